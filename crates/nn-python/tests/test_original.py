"""The original's numerics: the same weights give the same outputs, and the same weights
after ``train``, as the NumPy reference of ``nn.py``."""

import numpy as np
import pytest

import nn
import reference_nn as ref
from conftest import twin_networks


@pytest.mark.parametrize(
    "activations",
    [
        ["leaky_relu", "leaky_relu", "leaky_relu"],
        ["sigmoid", "tanh", "identity"],
        ["relu", "leaky_relu_0.3", "sigmoid"],
    ],
)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_forward_and_train_match_the_reference(activations, loss, rng):
    ours, theirs = twin_networks([5, 7, 6, 4], activations, loss, lr=0.05)
    for step in range(200):
        x = rng.normal(size=(5, 1))
        if loss == "mse":
            t = np.zeros((4, 1), dtype=int)
            t[step % 4] = 1
        else:
            t = np.int64(step % 4)
        np.testing.assert_allclose(ours.forward_pass(x), theirs.forward_pass(x), rtol=1e-12, atol=1e-14)
        assert ours.loss(ours.forward_pass(x), t) == pytest.approx(theirs.loss(theirs.forward_pass(x), t), rel=1e-12)
        assert ours.train(x, t) is None
        theirs.train(x, t)
    for a, b in zip(ours._layers, theirs._layers):
        np.testing.assert_allclose(a._W, b._W, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(a._b, b._b, rtol=1e-10, atol=1e-13)
    assert ours.steps == 200


def test_the_series_mnist_step_on_raw_int64_pixels(rng):
    """784→16→16→10 LeakyReLU, MSE, lr 0.001 on int64 pixels 0–255 and int one-hot targets,
    as the first MNIST article."""
    ours, theirs = twin_networks([784, 16, 16, 10], ["leaky_relu"] * 3, "mse", lr=0.001, scale=0.05)
    for i in range(50):
        x = rng.integers(0, 256, size=(784, 1))  # int64
        t = np.zeros((10, 1), dtype=int)
        t[i % 10] = 1
        ours.train(x, t)
        theirs.train(x, t)
    x = rng.integers(0, 256, size=(784, 1))
    np.testing.assert_allclose(ours.forward_pass(x), theirs.forward_pass(x), rtol=1e-9)
    for a, b in zip(ours._layers, theirs._layers):
        np.testing.assert_allclose(a._W, b._W, rtol=1e-9, atol=1e-12)


def test_weights_are_views_that_follow_training(rng):
    ours, _ = twin_networks([3, 2], ["leaky_relu"], "mse", lr=0.1)
    layer = ours._layers[0]
    w, b = layer._W, layer._b
    before = w.copy()
    ours.train(rng.normal(size=(3, 1)), np.ones((2, 1)))
    assert not np.array_equal(w, before), "a view taken before training shows the update"
    np.testing.assert_array_equal(w, layer.W)
    np.testing.assert_array_equal(b, layer.b)
    assert w.shape == (2, 3) and b.shape == (2, 1) and w.dtype == np.float64


def test_assigning_weights_writes_them_and_in_place_changes_are_refused():
    layer = nn.Layer(2, 2, nn.Identity())
    net = nn.NeuralNetwork([layer], nn.MSELoss(), 0.1)
    layer._W = np.eye(2)
    layer.b = np.array([[1.0], [2.0]])
    np.testing.assert_array_equal(net.forward_pass(np.array([[3], [4]])), [[4.0], [6.0]])
    with pytest.raises(ValueError, match="read-only"):
        layer._W += 1  # would be lost on a copy: refused, not silently ignored
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        layer._W = np.ones((3, 2))


def test_the_original_initialisation_scale():
    nn.seed(0)
    layer = nn.Layer(784, 16, nn.LeakyReLU())
    # σ = 1/(rows·cols) for W and 1/outs for b.
    assert layer._W.std() == pytest.approx(1 / (784 * 16), rel=0.05)
    assert layer._b.std() == pytest.approx(1 / 16, rel=0.5)
    assert abs(layer._W.mean()) < 1e-5
    nn.seed(0)
    again = nn.Layer(784, 16, nn.LeakyReLU())
    np.testing.assert_array_equal(layer._W, again._W)
    np.testing.assert_array_equal(nn.Layer(3, 2, nn.ReLU(), seed=5)._W, nn.Layer(3, 2, nn.ReLU(), seed=5)._W)
    assert not np.array_equal(nn.Layer(3, 2, nn.ReLU(), seed=-5)._W, nn.Layer(3, 2, nn.ReLU(), seed=5)._W)


def test_the_original_attributes():
    act = nn.LeakyReLU(0.2)
    assert act.alpha == 0.2 and nn.LeakyReLU().alpha == 0.1
    layer = nn.Layer(4, 3, act)
    assert (layer.ins, layer.outs) == (4, 3) and layer.act_function is act
    loss = nn.MSELoss()
    net = nn.NeuralNetwork([layer], loss, 0.01)
    assert net._layers[0] is layer and net._loss_function is loss and net.lr == 0.01
    net.lr = 0.5
    assert net.lr == 0.5
    x = np.ones((4, 1))
    np.testing.assert_allclose(layer.forward_pass(x), act.f(layer._W @ x + layer._b))
    np.testing.assert_allclose(net.forward_pass(x), layer.forward_pass(x))
    assert isinstance(act, nn.ActivationFunction) and isinstance(loss, nn.LossFunction)
    assert nn.Id is nn.Identity


@pytest.mark.parametrize("name", ["leaky_relu", "relu", "sigmoid", "tanh", "identity"])
def test_activation_methods_compute_f_and_df(name, rng):
    from conftest import ACTIVATIONS

    ours, theirs = (make() for make in ACTIVATIONS[name])
    y = rng.normal(size=(5, 3)) * 3
    np.testing.assert_allclose(ours.f(y), theirs.f(y), rtol=1e-12)
    np.testing.assert_allclose(ours.df(y), theirs.df(y), rtol=1e-12, atol=1e-15)


def test_loss_methods_compute_loss_and_dloss(rng):
    v = rng.normal(size=(4, 1))
    t = rng.normal(size=(4, 1))
    assert nn.MSELoss().loss(v, t) == pytest.approx(ref.MSELoss().loss(v, t), rel=1e-12)
    np.testing.assert_allclose(nn.MSELoss().dloss(v, t), ref.MSELoss().dloss(v, t), rtol=1e-12)
    assert nn.CrossEntropyLoss().loss(v, 2) == pytest.approx(ref.CrossEntropyLoss().loss(v, 2), rel=1e-12)
    np.testing.assert_allclose(nn.CrossEntropyLoss().dloss(v, np.int64(2)), ref.CrossEntropyLoss().dloss(v, 2), rtol=1e-12)


def test_cross_entropy_is_stable_where_the_original_overflows():
    layer = nn.Layer(2, 3, nn.Identity())
    net = nn.NeuralNetwork([layer], nn.CrossEntropyLoss(), 0.1)
    values = np.array([[1000.0], [0.0], [-1000.0]])
    assert net.loss(values, 0) == pytest.approx(0.0, abs=1e-12)
    assert net.loss(values, 1) == pytest.approx(1000.0)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(ref.CrossEntropyLoss().loss(values, 1))


def test_float32_networks_follow_the_float64_ones(rng):
    ours64, _ = twin_networks([5, 6, 3], ["leaky_relu", "sigmoid"], "mse", lr=0.1, seed=3)
    ours32, _ = twin_networks([5, 6, 3], ["leaky_relu", "sigmoid"], "mse", lr=0.1, seed=3, dtype="float32")
    assert ours32.dtype == "float32" and ours32._layers[0]._W.dtype == np.float32
    for _ in range(20):
        x, t = rng.normal(size=(5, 1)), rng.normal(size=(3, 1))
        ours64.train(x, t)
        ours32.train(x, t)
    x = rng.normal(size=(5, 1))
    assert ours32.forward_pass(x).dtype == np.float32
    np.testing.assert_allclose(ours32.forward_pass(x), ours64.forward_pass(x), rtol=1e-4, atol=1e-5)


def test_several_columns_train_on_their_mean_gradient(rng):
    """``train`` on a batch of columns: one step on the mean gradient. The original's MSE
    divides the gradient by every entry, so its ``dW`` is the same; its bias update would
    broadcast ``b`` to the batch's width, so the expected bias is summed here."""
    ours, theirs = twin_networks([3, 4, 2], ["leaky_relu", "identity"], "mse", lr=0.1)
    x, t = rng.normal(size=(3, 8)), rng.normal(size=(2, 8))
    _, dWs, dbs = theirs.backprop(x, t)
    expected = [(l._W - 0.1 * dW, l._b - 0.1 * db.sum(axis=1, keepdims=True)) for l, dW, db in zip(theirs._layers, dWs, dbs)]
    ours.train(x, t)
    for layer, (w, b) in zip(ours._layers, expected):
        np.testing.assert_allclose(layer._W, w, rtol=1e-12)
        np.testing.assert_allclose(layer._b, b, rtol=1e-12)


def test_views_keep_their_memory_alive():
    import gc

    w_free = nn.Layer(3, 2, nn.ReLU(), seed=0)._W  # the layer is gone at once
    layer = nn.Layer(3, 2, nn.ReLU(), seed=1)
    net = nn.NeuralNetwork([layer], nn.MSELoss(), 0.1)
    net.train(np.ones((3, 1)), np.ones((2, 1)))
    w, b = layer._W, net._layers[0]._b
    expected = (w.copy(), b.copy())
    del net, layer
    gc.collect()
    _ = [np.ones((3, 2)) for _ in range(1000)]  # reuse of freed memory would show here
    np.testing.assert_array_equal(w, expected[0])
    np.testing.assert_array_equal(b, expected[1])
    np.testing.assert_array_equal(w_free, nn.Layer(3, 2, nn.ReLU(), seed=0)._W)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_train_leaves_the_same_bits_with_and_without_a_view_of_the_first_layer(dtype, rng):
    """``train(x, t)`` leaves the first layer's update to be applied with the next step's
    forward product, unless a NumPy view of that layer's parameters is alive (it reads the
    memory directly); either way the parameters are the same bits, and a view taken
    before training sees every step."""
    import gc

    watched, _ = twin_networks([784, 16, 16, 10], ["leaky_relu"] * 3, "mse", lr=0.001, scale=0.05, dtype=dtype)
    plain, _ = twin_networks([784, 16, 16, 10], ["leaky_relu"] * 3, "mse", lr=0.001, scale=0.05, dtype=dtype)
    w, b = watched._layers[0]._W, watched._layers[0]._b
    for i in range(60):
        x = rng.integers(0, 256, size=(784, 1))
        t = np.zeros((10, 1), dtype=int)
        t[i % 10] = 1
        if i == 30:
            # No view left: the watched network defers its updates too from here on.
            del w, b
            gc.collect()
        watched.train(x, t)
        plain.train(x, t)
        if i < 30:
            # The live view shows this step's update already: copied before anything else
            # reads the network (a read applies a pending update, which the view would
            # then show too).
            seen = (w.copy(), b.copy())
            np.testing.assert_array_equal(seen[0], watched._layers[0].W)
            np.testing.assert_array_equal(seen[1], watched._layers[0].b)
    # Only now is the plain network read: its last step's update is applied first.
    for a, c in zip(watched._layers, plain._layers):
        assert a._W.tobytes() == c._W.tobytes()
        assert a._b.tobytes() == c._b.tobytes()
    x = rng.integers(0, 256, size=(784, 1))
    assert watched.forward_pass(x).tobytes() == plain.forward_pass(x).tobytes()
    assert watched.steps == plain.steps == 60


def test_the_series_loop_matches_the_reference_past_the_warm_up(rng):
    """After 64 steps in a row, ``train(x, t)`` queues its samples and trains them in
    blocks (one pass over the first layer's weights for several steps): the same steps to
    rounding, and reading the network trains what is queued first."""
    ours, theirs = twin_networks([784, 16, 16, 10], ["leaky_relu"] * 3, "mse", lr=0.001, scale=0.05)
    for i in range(203):
        x = rng.integers(0, 256, size=(784, 1))
        t = np.zeros((10, 1), dtype=int)
        t[i % 10] = 1
        ours.train(x, t)
        theirs.train(x, t)
    assert ours.steps == 203
    x = rng.integers(0, 256, size=(784, 1))
    np.testing.assert_allclose(ours.forward_pass(x), theirs.forward_pass(x), rtol=1e-9)
    for a, b in zip(ours._layers, theirs._layers):
        np.testing.assert_allclose(a._W, b._W, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a._b, b._b, rtol=1e-9, atol=1e-12)


def test_a_queued_step_that_diverges_raises_at_the_next_call(rng):
    net, _ = twin_networks([784, 16, 16, 10], ["leaky_relu"] * 3, "mse", lr=0.001, scale=0.05)
    xs = rng.integers(0, 256, size=(80, 784, 1))
    t = np.zeros((10, 1), dtype=int)
    for x in xs[:70]:
        net.train(x, t)
    # Queued: the loss overflows only when its block is trained.
    assert net.train(xs[70], np.full((10, 1), 1e200)) is None
    with pytest.raises(nn.DivergedError, match="step 70"):
        net.forward_pass(xs[71])
    assert net.steps == 70
    assert all(np.isfinite(layer._W).all() for layer in net._layers)
    net.train(xs[72], t)
    assert net.steps == 71
