"""``fit``, ``predict``, ``predict_proba`` and ``evaluate`` in Python's conventions (one
sample per row); the GIL is released while the engine trains, and Ctrl-C stops ``fit``."""

import _thread
import threading
import time

import numpy as np
import pytest

import nn


def blobs(rng, n=600):
    """Three Gaussian blobs in the plane, one sample per row."""
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, size=n)
    X = centres[y] + rng.normal(size=(n, 2))
    return X, y


def modern(dtype="float64", seed=0):
    return nn.NeuralNetwork(
        [
            nn.Layer(2, 32, nn.ReLU(), init="he_normal", seed=seed),
            nn.Layer(32, 3, nn.Identity(), init="he_normal", seed=seed + 1),
        ],
        nn.CrossEntropyLoss(),
        0.05,
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "optimizer",
    [None, nn.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-4), nn.Adam(1e-2)],
    ids=["plain", "sgd-momentum", "adam"],
)
def test_fit_learns_and_reports_its_history(dtype, optimizer, rng):
    X, y = blobs(rng)
    Xv, yv = blobs(rng, 200)
    net = modern(dtype)
    before = net.evaluate(Xv, yv)["accuracy"]
    history = net.fit(X, y, epochs=5, batch_size=32, optimizer=optimizer, validation=(Xv, yv), seed=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}
    assert all(len(v) == 5 for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9 > before
    evaluation = net.evaluate(Xv, yv)
    assert evaluation["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert evaluation["samples"] == 200
    predicted = net.predict(Xv)
    assert predicted.dtype == np.int64 and predicted.shape == (200,)
    assert np.mean(predicted == yv) == pytest.approx(evaluation["accuracy"])
    p = net.predict_proba(Xv)
    assert p.shape == (200, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(p.argmax(axis=1), predicted)
    # predict is forward_pass on columns.
    np.testing.assert_allclose(net.forward_pass(Xv[:5].T).argmax(axis=0), predicted[:5])


def test_fit_is_reproducible_with_a_seed(rng):
    X, y = blobs(rng)
    a, b, c = modern(), modern(), modern()
    ha = a.fit(X, y, epochs=2, seed=3)
    hb = b.fit(X, y, epochs=2, seed=3)
    hc = c.fit(X, y, epochs=2, seed=4)
    assert ha["loss"] == hb["loss"] and ha["loss"] != hc["loss"]
    np.testing.assert_array_equal(a._layers[0]._W, b._layers[0]._W)


def test_fit_plain_sgd_is_the_mean_gradient_step(rng):
    """One epoch of one unshuffled full batch is one ``train`` step on all columns."""
    X, y = blobs(rng, 50)
    a, b = modern(), modern()
    a.fit(X, y, epochs=1, batch_size=50, shuffle=False)
    b.train(X.T, y)
    np.testing.assert_allclose(a._layers[0]._W, b._layers[0]._W, rtol=1e-12)


def test_fit_with_value_targets(rng):
    X = rng.normal(size=(300, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    net = nn.NeuralNetwork([nn.Layer(3, 1, nn.Identity(), seed=0)], nn.MSELoss(), 0.05)
    history = net.fit(X, y, epochs=30, batch_size=16, seed=0)
    assert "accuracy" not in history
    evaluation = net.evaluate(X, y)
    assert evaluation["r_squared"] > 0.999
    np.testing.assert_allclose(net._layers[0]._W, [[1.0, -2.0, 0.5]], atol=1e-2)
    # Two-dimensional values (n, outs) too.
    net.fit(X, y.reshape(-1, 1), epochs=1)


def test_the_same_optimizer_object_keeps_its_state(rng):
    X, y = blobs(rng)
    adam = nn.Adam(1e-2)
    a, b = modern(), modern()
    a.fit(X, y, epochs=2, optimizer=adam, seed=0, shuffle=False)
    b.fit(X, y, epochs=1, optimizer=adam, seed=0, shuffle=False)
    b.fit(X, y, epochs=1, optimizer=adam, seed=0, shuffle=False)
    np.testing.assert_allclose(a._layers[0]._W, b._layers[0]._W, rtol=1e-12)


def big_problem(rng):
    X = rng.normal(size=(20000, 256)).astype(np.float32)
    y = rng.integers(0, 10, size=20000)
    net = nn.NeuralNetwork(
        [nn.Layer(256, 256, nn.ReLU(), init="he_normal", seed=0), nn.Layer(256, 10, nn.Identity(), seed=1)],
        nn.CrossEntropyLoss(),
        0.01,
        dtype="float32",
    )
    return net, X, y


def test_fit_releases_the_gil(rng):
    net, X, y = big_problem(rng)
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    thread = threading.Thread(target=count)
    thread.start()
    time.sleep(0.01)
    start = len(ticks)
    started = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=128, seed=0)
    elapsed = time.perf_counter() - started
    during = len(ticks) - start
    stop.set()
    thread.join()
    # The other thread ran throughout (about one tick per millisecond).
    assert during > 0.3 * elapsed * 1000, (during, elapsed)


def test_ctrl_c_stops_fit_within_a_batch(rng):
    net, X, y = big_problem(rng)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=1000, batch_size=128, seed=0)
    assert time.perf_counter() - started < 2.0
    timer.cancel()
    # The network is usable afterwards, and another thread cannot use it while it trains.
    assert net.predict(X[:3]).shape == (3,)


def test_a_busy_network_is_an_error_not_a_deadlock(rng):
    net, X, y = big_problem(rng)
    errors, done = [], threading.Event()

    def other():
        while not done.is_set():
            try:
                net.forward_pass(np.ones((256, 1)))
            except RuntimeError as e:
                errors.append(str(e))
                return
            time.sleep(0.002)

    thread = threading.Thread(target=other)
    thread.start()
    net.fit(X, y, epochs=3, batch_size=128, seed=0)
    done.set()
    thread.join()
    assert errors and "in use by another thread" in errors[0]


def test_verbose_prints_one_line_per_epoch(rng, capsys):
    X, y = blobs(rng, 100)
    modern().fit(X, y, epochs=2, validation=(X, y), verbose=True, seed=0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2: loss ") and "validation accuracy" in lines[1]


def test_train_on_a_large_batch_releases_the_gil_and_matches_fit(rng):
    """From 64 columns on, train runs with the GIL released (the same step either way)."""
    X, y = blobs(rng, 200)
    a, b = modern(), modern()
    a.train(X.T, y)
    b.fit(X, y, epochs=1, batch_size=200, shuffle=False)
    np.testing.assert_allclose(a._layers[1]._W, b._layers[1]._W, rtol=1e-12)


def test_a_forked_child_predicts_without_the_parents_threads(rng):
    """After ``os.fork`` (multiprocessing's default start method on Linux), the child has
    none of the parent's helper threads: a large prediction there must run on the
    child's own thread instead of waiting for a helper that does not exist."""
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    net = nn.NeuralNetwork(
        [nn.Layer(784, 256, nn.ReLU(), seed=0), nn.Layer(256, 10, nn.Identity(), seed=1)],
        nn.CrossEntropyLoss(),
        0.01,
    )
    X = rng.normal(size=(512, 784))
    expected = net.predict_proba(X)  # starts the helpers in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read)
            same = np.array_equal(net.predict_proba(X), expected)
            os.write(write, b"same" if same else b"different")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child hung")
    answer = os.read(read, 100)
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == b"same"
