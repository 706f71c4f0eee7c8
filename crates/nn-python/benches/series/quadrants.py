"""The quadrants experiment of the series, in its style: 100 000 points of [-2, 2]², class
0 where x·y > 0; a 2→3→2 LeakyReLU network, MSE, learning rate 0.05, trained on points
1 000 to 99 999 one at a time and tested on the first 1 000. Prints the correct answers out
of 1 000 before and after training.

Runs against whichever module ``nn`` is first on the path: this crate's, or the NumPy
reference (``run.py`` puts it first). ``SEED`` in the environment seeds both generators.
"""

import os

import numpy as np

import nn
from nn import NeuralNetwork, Layer, LeakyReLU, MSELoss

SEED = int(os.environ.get("SEED", "0"))
np.random.seed(SEED)
if hasattr(nn, "seed"):
    nn.seed(SEED)


def col(a):
    """Makes sure the array is a column."""
    return np.atleast_2d(a).T


N = 100_000
data = np.random.uniform(low=-2, high=2, size=(2, N))
ts = np.zeros(shape=(2, N))
ts[0, data[0, ] * data[1, ] > 0] = 1
ts[1, :] = 1 - ts[0, :]

net = NeuralNetwork([
    Layer(2, 3, LeakyReLU()),
    Layer(3, 2, LeakyReLU()),
], MSELoss(), 0.05)


def assess(net, data, ts):
    correct = 0
    for i in range(data.shape[1]):
        out = net.forward_pass(col(data[:, i]))
        guess = np.argmax(np.ndarray.flatten(out))
        if ts[guess, i]:
            correct += 1
    return correct


test_to = 1000
before = assess(net, data[:, :test_to], ts[:, :test_to])
for i in range(test_to, N):
    net.train(col(data[:, i]), col(ts[:, i]))
print(f"quadrants: {before} -> {assess(net, data[:, :test_to], ts[:, :test_to])} correct of 1000")
