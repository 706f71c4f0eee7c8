"""The MNIST articles' experiments, in the series' style, on Fashion-MNIST:

- ``mse`` (the first MNIST article): 784→16→16→10 LeakyReLU, MSE on int one-hot columns,
  learning rate 0.001, raw int64 pixels, one pass;
- ``small``: 784→10 LeakyReLU, cross-entropy on the class index taken from the data row,
  learning rate 0.001, pixels / 255, one pass.

``python mnist.py CONFIG``; prints the test accuracy before and after, and the time of the
pass. Runs against whichever module ``nn`` is first on the path.
"""

import os
import sys
import time

import numpy as np

import nn
from nn import NeuralNetwork, Layer, LeakyReLU, MSELoss, CrossEntropyLoss
from mnist_data import load_data, to_col

SEED = int(os.environ.get("SEED", "0"))
np.random.seed(SEED)
if hasattr(nn, "seed"):
    nn.seed(SEED)


def test(net, test_data, scale):
    correct = 0
    for test_row in test_data:
        t = test_row[0]
        x = to_col(test_row[1:]) if scale == 1 else to_col(test_row[1:]) / scale
        guess = np.argmax(net.forward_pass(x))
        if t == guess:
            correct += 1
    return correct


def train(net, train_data, scale, one_hot):
    ts = {}
    for t in range(10):
        tv = np.zeros((10, 1), dtype=int)
        tv[t] = 1
        ts[t] = tv
    for train_row in train_data:
        x = to_col(train_row[1:]) if scale == 1 else to_col(train_row[1:]) / scale
        t = ts[train_row[0]] if one_hot else train_row[0]
        net.train(x, t)


if __name__ == "__main__":
    config = sys.argv[1] if len(sys.argv) > 1 else "mse"
    if config == "mse":
        layers = [Layer(784, 16, LeakyReLU()), Layer(16, 16, LeakyReLU()), Layer(16, 10, LeakyReLU())]
        net, scale, one_hot = NeuralNetwork(layers, MSELoss(), 0.001), 1, True
    elif config == "small":
        net, scale, one_hot = NeuralNetwork([Layer(784, 10, LeakyReLU())], CrossEntropyLoss(), 0.001), 255, False
    else:
        raise SystemExit(f"unknown config {config}")
    test_data = load_data("test")
    train_data = load_data("train")
    before = test(net, test_data, scale)
    started = time.perf_counter()
    train(net, train_data, scale, one_hot)
    seconds = time.perf_counter() - started
    after = test(net, test_data, scale)
    n = test_data.shape[0]
    print(f"mnist {config}: {100 * before / n:.2f}% -> {100 * after / n:.2f}% (pass: {seconds:.2f} s)")
