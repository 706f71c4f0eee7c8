"""Bad inputs raise the right Python exception, with nn's message; nothing is changed."""

import numpy as np
import pytest

import nn


def small(loss=None, lr=0.1):
    return nn.NeuralNetwork(
        [nn.Layer(3, 4, nn.LeakyReLU(), seed=0), nn.Layer(4, 2, nn.Identity(), seed=1)],
        loss or nn.MSELoss(),
        lr,
    )


def test_incompatible_layers_raise_value_error_as_the_original():
    with pytest.raises(ValueError, match="Layers should have compatible shapes.*layer 0 has 4 outputs but layer 1 takes 3"):
        nn.NeuralNetwork([nn.Layer(2, 4, nn.ReLU()), nn.Layer(3, 1, nn.ReLU())], nn.MSELoss(), 0.1)
    with pytest.raises(ValueError, match="at least one layer"):
        nn.NeuralNetwork([], nn.MSELoss(), 0.1)


@pytest.mark.parametrize(
    "build, exception, message",
    [
        (lambda: nn.Layer(0, 3, nn.ReLU()), ValueError, "at least 1 input"),
        (lambda: nn.Layer(-2, 3, nn.ReLU()), ValueError, "at least 1 input"),
        (lambda: nn.Layer(2, 3, "relu"), TypeError, "ActivationFunction"),
        (lambda: nn.Layer(2, 3, nn.ReLU(), init="bogus"), ValueError, "init"),
        (lambda: nn.LeakyReLU(float("nan")), ValueError, "alpha"),
        (lambda: nn.NeuralNetwork([nn.Layer(2, 2, nn.ReLU())], nn.MSELoss(), -1.0), ValueError, "learning_rate"),
        (lambda: nn.NeuralNetwork([nn.Layer(2, 2, nn.ReLU())], nn.MSELoss(), 0.1, dtype="int8"), ValueError, "dtype"),
        (lambda: nn.NeuralNetwork([nn.Layer(2, 2, nn.ReLU())], "mse", 0.1), TypeError, "LossFunction"),
        (lambda: nn.NeuralNetwork([nn.Layer(2, 2, nn.ReLU()), 3], nn.MSELoss(), 0.1), TypeError, "Layer"),
        (lambda: nn.SGD(0.1, momentum=1.5), ValueError, "momentum"),
        (lambda: nn.Adam(-1.0), ValueError, "learning_rate"),
    ],
)
def test_bad_construction(build, exception, message):
    with pytest.raises(exception, match=message):
        build()


def test_a_layer_belongs_to_one_network():
    layer = nn.Layer(2, 2, nn.ReLU())
    nn.NeuralNetwork([layer], nn.MSELoss(), 0.1)
    with pytest.raises(ValueError, match="already belongs to a network"):
        nn.NeuralNetwork([layer], nn.MSELoss(), 0.1)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.ones((4, 1)), r"input has shape \(4, 1\), expected \(3, 1\)"),
        (np.ones(3), r"x.reshape\(-1, 1\)"),
        (np.ones((3, 1), dtype=complex), "dtype complex128"),
        (np.array([["a"], ["b"], ["c"]]), "dtype <U1"),
        (np.array([[1.0], [np.nan], [0.0]]), "non-finite value NaN at row 1"),
        (np.ones((3, 0)), "empty batch"),
        ("abc", "not an array of real numbers|2-D"),
    ],
)
def test_bad_inputs_raise_value_error(x, message):
    net = small()
    with pytest.raises(ValueError, match=message):
        net.forward_pass(x)
    before = net._layers[0]._W.copy()
    with pytest.raises(ValueError):
        net.train(x, np.zeros((2, 1)))
    np.testing.assert_array_equal(net._layers[0]._W, before)


@pytest.mark.parametrize(
    "t, message",
    [
        (np.zeros((3, 1)), r"target has shape \(3, 1\), expected \(2, 1\)"),
        (np.zeros(2), r"t.reshape\(-1, 1\)"),
        (1, "MSELoss compares the output with a column"),
        (np.array([[0.0], [np.inf]]), "non-finite"),
    ],
)
def test_bad_mse_targets(t, message):
    with pytest.raises(ValueError, match=message):
        small().train(np.ones((3, 1)), t)


@pytest.mark.parametrize(
    "t, message",
    [(2, "class 2, but there are only 2 classes"), (-1, "class -1"), (np.int64(5), "class 5")],
)
def test_bad_class_indices(t, message):
    with pytest.raises(ValueError, match=message):
        small(nn.CrossEntropyLoss()).train(np.ones((3, 1)), t)


def test_divergence_raises_diverged_error_before_any_update():
    net = small(lr=1e300)
    x, t = np.full((3, 1), 1e5), np.full((2, 1), -1e5)
    with pytest.raises(nn.DivergedError, match="diverged|not finite") as caught:
        for _ in range(100):
            before = [l._W.copy() for l in net._layers]
            net.train(x, t)
    assert isinstance(caught.value, ArithmeticError)
    for layer, w in zip(net._layers, before):
        assert np.isfinite(layer._W).all()
        np.testing.assert_array_equal(layer._W, w)


def test_fit_errors():
    net = small(nn.CrossEntropyLoss())
    X, y = np.ones((10, 3)), np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, y, batch_size=0)
    with pytest.raises(ValueError, match="epochs"):
        net.fit(X, y, epochs=0)
    with pytest.raises(ValueError, match="epochs = -3 is invalid"):
        net.fit(X, y, epochs=-3)
    with pytest.raises(ValueError, match="batch_size"):
        net.evaluate(X, y, batch_size=-1)
    with pytest.raises(ValueError, match=r"X has shape \(3, 10\), expected one sample of 3 features per row"):
        net.fit(X.T.copy(), y)
    with pytest.raises(ValueError, match="transpose would fit"):
        net.predict(np.ones((3, 7)))
    with pytest.raises(ValueError, match="10|9"):
        net.fit(X, y[:9])
    with pytest.raises(TypeError, match="optimizer"):
        net.fit(X, y, optimizer="adam")
    with pytest.raises(TypeError, match="validation"):
        net.fit(X, y, validation=X)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.NeuralNetwork.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model file at all")
    with pytest.raises(OSError, match="bad.safetensors"):
        nn.NeuralNetwork.load(bad)
    with pytest.raises(OSError):
        small().save(tmp_path / "no" / "such" / "dir" / "net.safetensors")


@pytest.mark.parametrize("columns", [1, 3])
def test_an_overflowing_output_is_a_diverged_error_naming_the_layer(columns):
    net = small()
    net._layers[1]._W = np.full((2, 4), 1e300)
    x = np.full((3, columns), 1e10)
    with pytest.raises(nn.DivergedError, match="layer 1 produced the non-finite value"):
        net.forward_pass(x)


def test_one_column_and_a_batch_give_the_same_outputs(rng):
    net = small()
    x = rng.normal(size=(3, 6))
    columns = np.hstack([net.forward_pass(x[:, [j]]) for j in range(6)])
    np.testing.assert_allclose(columns, net.forward_pass(x), rtol=1e-12, atol=1e-15)
