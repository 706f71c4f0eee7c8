"""A NumPy reference of the series' framework (``nn.py``), written from its description in
``shared/SPEC.md`` ("The original, piece by piece" and "The original's Python surface"):
the same classes, shapes, initialisation and per-sample SGD step, computed the way the
original computes them (column vectors, one ``np.dot`` per product, ``y`` recomputed in the
backward pass, parameters changed in place).

The tests compare the Rust-backed module with it, and the benchmarks time it: it stands
for the original, which is not on this machine.
"""

import numpy as np


def original_weights(rows, cols, rng=np.random):
    """``N(0, σ²)`` entries with ``σ = 1/(rows·cols)``, the original's initialisation."""
    return rng.normal(loc=0.0, scale=1.0 / (rows * cols), size=(rows, cols))


class ActivationFunction:
    """``f(y)`` and its derivative ``df(y)``, on arrays, of the pre-activation ``y``."""

    def f(self, x):
        raise NotImplementedError

    def df(self, x):
        raise NotImplementedError


class LeakyReLU(ActivationFunction):
    def __init__(self, leaky_param=0.1):
        self.alpha = leaky_param

    def f(self, x):
        return np.maximum(x, self.alpha * x)

    def df(self, x):
        return np.where(x > 0, 1.0, self.alpha)


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(0.0)


class Sigmoid(ActivationFunction):
    def f(self, x):
        return 1 / (1 + np.exp(-x))

    def df(self, x):
        s = self.f(x)
        return s * (1 - s)


class Tanh(ActivationFunction):
    def f(self, x):
        return np.tanh(x)

    def df(self, x):
        return 1 - np.tanh(x) ** 2


class Identity(ActivationFunction):
    def f(self, x):
        return x

    def df(self, x):
        return np.ones(x.shape)


class LossFunction:
    """``loss(values, expected)`` and its gradient ``dloss`` with respect to ``values``."""

    def loss(self, values, expected):
        raise NotImplementedError

    def dloss(self, values, expected):
        raise NotImplementedError


class MSELoss(LossFunction):
    def loss(self, values, expected):
        return np.mean((values - expected) ** 2)

    def dloss(self, values, expected):
        return 2 * (values - expected) / values.size


class CrossEntropyLoss(LossFunction):
    """On logits and a class index, computed naively as the original does."""

    def loss(self, values, expected):
        return -values[expected, 0] + np.log(np.sum(np.exp(values)))

    def dloss(self, values, expected):
        e = np.exp(values)
        d = e / np.sum(e)
        d[expected, 0] -= 1
        return d


class Layer:
    def __init__(self, ins, outs, act_function):
        self.ins = ins
        self.outs = outs
        self.act_function = act_function
        self._W = original_weights(outs, ins)
        self._b = np.random.normal(loc=0.0, scale=1.0 / outs, size=(outs, 1))

    def forward_pass(self, x):
        return self.act_function.f(np.dot(self._W, x) + self._b)


class NeuralNetwork:
    def __init__(self, layers, loss_function, learning_rate):
        self._layers = layers
        self._loss_function = loss_function
        self.lr = learning_rate
        for first, second in zip(layers, layers[1:]):
            if first.outs != second.ins:
                raise ValueError("Layers should have compatible shapes.")

    def forward_pass(self, x):
        out = x
        for layer in self._layers:
            out = layer.forward_pass(out)
        return out

    def loss(self, values, expected):
        return self._loss_function.loss(values, expected)

    def backprop(self, x, t):
        """The article's lists: ``dxs`` (of every layer input and the output), ``dWs``,
        ``dbs``, without an update."""
        xs = [x]
        for layer in self._layers:
            xs.append(layer.forward_pass(xs[-1]))
        dx = self._loss_function.dloss(xs[-1], t)
        dxs, dWs, dbs = [dx], [], []
        for layer, x in zip(self._layers[::-1], xs[-2::-1]):
            y = np.dot(layer._W, x) + layer._b
            db = layer.act_function.df(y) * dx
            dx = np.dot(layer._W.T, db)
            dxs.insert(0, dx)
            dWs.insert(0, np.dot(db, x.T))
            dbs.insert(0, db)
        return dxs, dWs, dbs

    def train(self, x, t):
        xs = [x]
        for layer in self._layers:
            xs.append(layer.forward_pass(xs[-1]))
        dx = self._loss_function.dloss(xs.pop(), t)
        for layer, x in zip(self._layers[::-1], xs[::-1]):
            y = np.dot(layer._W, x) + layer._b
            db = layer.act_function.df(y) * dx
            dx = np.dot(layer._W.T, db)
            dW = np.dot(db, x.T)
            layer._W -= self.lr * dW
            layer._b -= self.lr * db
