"""``backprop``: the article's ``dxs, dWs, dbs``, equal to the reference's, to finite
differences, and to the update the engine's own per-sample ``train`` applies."""

import numpy as np
import pytest

from conftest import twin_networks


def numeric_gradient(loss_of, array, h=1e-6):
    """Central differences of ``loss_of()`` with respect to every entry of ``array``
    (changed in place and restored)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        keep = array[index]
        array[index] = keep + h
        up = loss_of()
        array[index] = keep - h
        down = loss_of()
        array[index] = keep
        grad[index] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_backprop_matches_the_reference_and_finite_differences(loss, rng):
    ours, theirs = twin_networks([4, 5, 3], ["tanh", "sigmoid"], loss, lr=0.1, seed=7)
    x = rng.normal(size=(4, 1))
    t = rng.normal(size=(3, 1)) if loss == "mse" else 2
    dxs, dWs, dbs = ours.backprop(x, t)
    rdxs, rdWs, rdbs = theirs.backprop(x, t)
    assert [d.shape for d in dxs] == [(4, 1), (5, 1), (3, 1)]
    for a, b in zip(dxs + dWs + dbs, rdxs + rdWs + rdbs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)

    # Finite differences on the reference's arrays, with its loss (an independent path).
    def loss_of():
        return theirs.loss(theirs.forward_pass(x), t)

    for layer, dW, db in zip(theirs._layers, dWs, dbs):
        np.testing.assert_allclose(dW, numeric_gradient(loss_of, layer._W), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(db, numeric_gradient(loss_of, layer._b), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(dxs[0], numeric_gradient(loss_of, x), rtol=1e-5, atol=1e-9)
    # backprop changes nothing.
    np.testing.assert_array_equal(ours._layers[0]._W, theirs._layers[0]._W)


def test_backprop_is_the_update_of_train(rng):
    """With plain SGD, ``train`` (the engine's fused per-sample path) moves every weight by
    ``-lr·dW`` of ``backprop`` (its general path)."""
    ours, _ = twin_networks([6, 5, 4], ["leaky_relu", "identity"], "cross_entropy", lr=0.25)
    x = rng.integers(0, 5, size=(6, 1))
    _, dWs, dbs = ours.backprop(x, np.int32(1))
    before = [(l._W.copy(), l._b.copy()) for l in ours._layers]
    ours.train(x, np.int32(1))
    for layer, (w, b), dW, db in zip(ours._layers, before, dWs, dbs):
        np.testing.assert_allclose(layer._W, w - 0.25 * dW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer._b, b - 0.25 * db, rtol=1e-12, atol=1e-15)


def test_backprop_on_a_batch_is_the_mean_of_the_samples(rng):
    ours, _ = twin_networks([3, 4, 2], ["tanh", "identity"], "mse", lr=0.1)
    x, t = rng.normal(size=(3, 5)), rng.normal(size=(2, 5))
    _, dWs, dbs = ours.backprop(x, t)
    per_sample = [ours.backprop(x[:, [j]], t[:, [j]]) for j in range(5)]
    for i in range(2):
        np.testing.assert_allclose(dWs[i], np.mean([g[1][i] for g in per_sample], axis=0), rtol=1e-12)
        np.testing.assert_allclose(dbs[i], np.mean([g[2][i] for g in per_sample], axis=0), rtol=1e-12)
