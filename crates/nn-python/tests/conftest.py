"""Shared helpers: a network of the module and one of the NumPy reference with the same
weights."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import nn  # noqa: E402  (the installed module)
import reference_nn as ref  # noqa: E402

ACTIVATIONS = {
    "leaky_relu": (lambda: nn.LeakyReLU(), lambda: ref.LeakyReLU()),
    "leaky_relu_0.3": (lambda: nn.LeakyReLU(0.3), lambda: ref.LeakyReLU(0.3)),
    "relu": (lambda: nn.ReLU(), lambda: ref.ReLU()),
    "sigmoid": (lambda: nn.Sigmoid(), lambda: ref.Sigmoid()),
    "tanh": (lambda: nn.Tanh(), lambda: ref.Tanh()),
    "identity": (lambda: nn.Identity(), lambda: ref.Identity()),
}

LOSSES = {
    "mse": (nn.MSELoss, ref.MSELoss),
    "cross_entropy": (nn.CrossEntropyLoss, ref.CrossEntropyLoss),
}


def twin_networks(sizes, activations, loss, lr, seed=0, scale=1.0, dtype="float64"):
    """``(ours, reference)``: the same layers and weights (drawn from ``seed``, multiplied
    by ``scale`` so that the tiny original initialisation does not hide every effect)."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for (ins, outs), act in zip(zip(sizes, sizes[1:]), activations):
        make_ours, make_theirs = ACTIVATIONS[act]
        a, b = nn.Layer(ins, outs, make_ours()), ref.Layer(ins, outs, make_theirs())
        w = rng.normal(size=(outs, ins)) * scale / np.sqrt(ins)
        bias = rng.normal(size=(outs, 1)) * scale * 0.1
        a._W, a._b = w, bias
        b._W, b._b = w.copy(), bias.copy()
        ours.append(a)
        theirs.append(b)
    ours_loss, theirs_loss = LOSSES[loss]
    return (
        nn.NeuralNetwork(ours, ours_loss(), lr, dtype=dtype),
        ref.NeuralNetwork(theirs, theirs_loss(), lr),
    )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
