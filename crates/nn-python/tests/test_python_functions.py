"""Activation and loss functions written in Python, as the articles teach, train on the
slower path that calls them; their exceptions reach the caller."""

import numpy as np
import pytest

import nn
import reference_nn as ref


class PyLeaky(nn.ActivationFunction):
    """LeakyReLU as the articles write it."""

    def __init__(self, leaky_param=0.1):
        self.alpha = leaky_param

    def f(self, x):
        return np.maximum(x, x * self.alpha)

    def df(self, x):
        return np.maximum(x > 0, self.alpha)


class PySquaredError(nn.LossFunction):
    def loss(self, values, expected):
        return np.mean((values - expected) ** 2)

    def dloss(self, values, expected):
        return 2 * (values - expected) / values.size


class PyCrossEntropy(nn.LossFunction):
    def loss(self, values, expected):
        return -values[expected, 0] + np.log(np.sum(np.exp(values)))

    def dloss(self, values, expected):
        d = np.exp(values) / np.sum(np.exp(values))
        d[expected, 0] -= 1
        return d


def pair(act, loss, seed=0):
    """A network with the Python-defined pieces and one with the built-in ones, same
    weights."""
    nets = []
    for a, l in ((act, loss), (nn.LeakyReLU(), nn.MSELoss() if isinstance(loss, PySquaredError) else nn.CrossEntropyLoss())):
        layers = [nn.Layer(4, 5, a, seed=seed), nn.Layer(5, 3, nn.LeakyReLU(), seed=seed + 1)]
        nets.append(nn.NeuralNetwork(layers, l, 0.05))
    return nets


@pytest.mark.parametrize("loss, target", [(PySquaredError(), "values"), (PyCrossEntropy(), "class")])
def test_python_activation_and_loss_train_as_the_built_in_ones(loss, target, rng):
    ours, builtin = pair(PyLeaky(), loss)
    for step in range(30):
        x = rng.normal(size=(4, 1)) * 10
        t = rng.normal(size=(3, 1)) if target == "values" else step % 3
        ours.train(x, t)
        builtin.train(x, t)
    for a, b in zip(ours._layers, builtin._layers):
        np.testing.assert_allclose(a._W, b._W, rtol=1e-12, atol=1e-15)
    x = rng.normal(size=(4, 7))
    np.testing.assert_allclose(ours.forward_pass(x), builtin.forward_pass(x), rtol=1e-12)


def test_python_activation_in_fit_and_backprop(rng):
    ours, _ = pair(PyLeaky(0.2), PyCrossEntropy())
    # The same weights (seeds 0 and 1), with the built-in LeakyReLU(0.2) and cross-entropy.
    builtin = nn.NeuralNetwork(
        [nn.Layer(4, 5, nn.LeakyReLU(0.2), seed=0), nn.Layer(5, 3, nn.LeakyReLU(), seed=1)],
        nn.CrossEntropyLoss(),
        0.05,
    )
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, size=30)
    h1 = ours.fit(X, y, epochs=3, batch_size=8, seed=1)
    h2 = builtin.fit(X, y, epochs=3, batch_size=8, seed=1)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-10)
    for a, b in zip(ours.backprop(X[:1].T, 1), builtin.backprop(X[:1].T, 1)):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-15)


class Failing(nn.ActivationFunction):
    def __init__(self, when):
        self.when = when

    def f(self, x):
        if self.when == "f":
            raise ZeroDivisionError("f failed on purpose")
        return x

    def df(self, x):
        if self.when == "df":
            raise KeyError("df failed on purpose")
        return np.ones_like(x)


@pytest.mark.parametrize("when, exception", [("f", ZeroDivisionError), ("df", KeyError)])
def test_exceptions_in_python_functions_reach_the_caller_and_change_nothing(when, exception):
    layer = nn.Layer(2, 2, Failing(when), seed=0)
    net = nn.NeuralNetwork([layer], nn.MSELoss(), 0.1)
    before = layer._W.copy()
    with pytest.raises(exception, match="on purpose"):
        net.train(np.ones((2, 1)), np.zeros((2, 1)))
    np.testing.assert_array_equal(layer._W, before)
    # The network is usable again after the error.
    if when == "df":
        np.testing.assert_allclose(net.forward_pass(np.ones((2, 1))), layer._W @ np.ones((2, 1)) + layer._b)


def test_a_wrong_shape_from_python_is_a_value_error():
    class Wrong(nn.ActivationFunction):
        def f(self, x):
            return np.ones((7, 7))

        def df(self, x):
            return np.ones((7, 7))

    net = nn.NeuralNetwork([nn.Layer(2, 3, Wrong())], nn.MSELoss(), 0.1)
    with pytest.raises(ValueError, match=r"Wrong.f returned shape \(7, 7\), expected \(3, 1\)"):
        net.forward_pass(np.ones((2, 1)))


def test_a_forgotten_return_is_a_type_error_not_a_diverged_loss():
    # NumPy reads None as NaN: without a check, a Python f that returns nothing would
    # surface as "the loss is not finite".
    class NoReturn(nn.ActivationFunction):
        def f(self, x):
            np.maximum(x, 0)

        def df(self, x):
            return (x > 0).astype(float)

    net = nn.NeuralNetwork([nn.Layer(2, 3, NoReturn())], nn.MSELoss(), 0.1)
    with pytest.raises(TypeError, match=r"NoReturn.f returned None, expected an array of shape \(3, 1\)"):
        net.train(np.ones((2, 1)), np.ones((3, 1)))
    with pytest.raises(TypeError, match=r"x is None"):
        net.forward_pass(None)


def test_the_base_classes_are_abstract():
    with pytest.raises(NotImplementedError):
        nn.ActivationFunction().f(np.ones(2))
    with pytest.raises(NotImplementedError):
        nn.LossFunction().dloss(np.ones((2, 1)), np.ones((2, 1)))


def test_a_python_network_cannot_be_saved(tmp_path):
    net = nn.NeuralNetwork([nn.Layer(2, 2, PyLeaky())], nn.MSELoss(), 0.1)
    with pytest.raises(ValueError, match="python"):
        net.save(tmp_path / "n.safetensors")


@pytest.mark.parametrize("t", [1.0, np.float64(1.0), True, 2**70, np.array(1.5)])
def test_a_number_that_is_no_class_index_is_named_as_such(t):
    net = nn.NeuralNetwork([nn.Layer(2, 3, nn.LeakyReLU())], nn.CrossEntropyLoss(), 0.1)
    with pytest.raises(ValueError, match=r"t is the number .*: a target is a class index"):
        net.train(np.ones((2, 1)), t)
