"""Every dtype and shape of ``x`` and ``t`` the series passes (and the usual others) gives
the same result as float64 columns."""

import numpy as np
import pytest

import nn
from conftest import twin_networks

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES + [bool, ">f8", ">i8", ">f4", "<u2"])
def test_x_of_any_real_or_integer_dtype(dtype, rng):
    ours, _ = twin_networks([4, 3], ["leaky_relu"], "mse", lr=0.1)
    x = rng.integers(0, 2 if dtype is bool else 100, size=(4, 1)).astype(dtype)
    expected = ours.forward_pass(x.astype(np.float64))
    out = ours.forward_pass(x)
    assert out.dtype == np.float64 and out.shape == (3, 1)
    np.testing.assert_array_equal(out, expected)


def test_x_as_strided_column_fortran_array_and_list(rng):
    ours, theirs = twin_networks([2, 3], ["leaky_relu"], "mse", lr=0.1)
    data = rng.uniform(-2, 2, size=(2, 100))
    column = np.atleast_2d(data[:, 7]).T  # the quadrants script's col(): a strided view
    assert not column.flags.c_contiguous or column.strides[0] != 8
    np.testing.assert_allclose(ours.forward_pass(column), theirs.forward_pass(column), rtol=1e-12)
    np.testing.assert_array_equal(ours.forward_pass(np.asfortranarray(data[:, :5])), ours.forward_pass(np.ascontiguousarray(data[:, :5])))
    np.testing.assert_array_equal(ours.forward_pass([[1.0], [2]]), ours.forward_pass(np.array([[1.0], [2.0]])))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float32, np.float64, ">i8", ">f8"])
def test_mse_targets_of_any_numeric_dtype(dtype, rng):
    a, _ = twin_networks([3, 4], ["sigmoid"], "mse", lr=0.5)
    b, _ = twin_networks([3, 4], ["sigmoid"], "mse", lr=0.5)
    x = rng.normal(size=(3, 1))
    t = np.array([[0], [1], [0], [0]])
    a.train(x, t.astype(dtype))
    b.train(x, t.astype(np.float64))
    np.testing.assert_array_equal(a._layers[0]._W, b._layers[0]._W)


def test_another_networks_output_as_target(rng):
    teacher, _ = twin_networks([5, 3], ["leaky_relu"], "cross_entropy", lr=0.1, seed=1)
    student, reference = twin_networks([5, 3], ["sigmoid"], "mse", lr=0.1, seed=2)
    for _ in range(10):
        x = rng.integers(0, 255, size=(5, 1))
        out = teacher.forward_pass(x)
        student.train(x, out)
        reference.train(x, out)
    np.testing.assert_allclose(student._layers[0]._W, reference._layers[0]._W, rtol=1e-12)


@pytest.mark.parametrize(
    "make",
    [int, np.int64, np.int32, np.int16, np.uint8, np.uint64, lambda c: np.array(c)],
    ids=["int", "int64", "int32", "int16", "uint8", "uint64", "0-d array"],
)
def test_class_index_of_any_integer_type(make, rng):
    a, _ = twin_networks([3, 4], ["identity"], "cross_entropy", lr=0.5)
    b, _ = twin_networks([3, 4], ["identity"], "cross_entropy", lr=0.5)
    x = rng.normal(size=(3, 1))
    a.train(x, make(2))
    b.train(x, 2)
    np.testing.assert_array_equal(a._layers[0]._W, b._layers[0]._W)
    assert a.loss(a.forward_pass(x), make(2)) == b.loss(b.forward_pass(x), 2)


def test_class_index_taken_from_a_data_row(rng):
    """The series' ``t = row[0]`` of an int64 data array."""
    data = np.hstack([rng.integers(0, 4, size=(10, 1)), rng.integers(0, 256, size=(10, 3))])
    net, reference = twin_networks([3, 4], ["leaky_relu"], "cross_entropy", lr=0.001)
    for row in data:
        x = row[1:].reshape((3, 1))
        net.train(x / 255, row[0])
        reference.train(x / 255, row[0])
    np.testing.assert_allclose(net._layers[0]._W, reference._layers[0]._W, rtol=1e-12)


def test_batches_of_class_indices(rng):
    net, _ = twin_networks([3, 4], ["identity"], "cross_entropy", lr=0.5)
    x = rng.normal(size=(3, 6))
    classes = np.array([0, 1, 2, 3, 0, 1])
    _, dWs, _ = net.backprop(x, classes)
    mean = np.mean([net.backprop(x[:, [j]], int(c))[1][0] for j, c in enumerate(classes)], axis=0)
    np.testing.assert_allclose(dWs[0], mean, rtol=1e-12)
    net.train(x, list(classes))


def test_fit_inputs_of_any_dtype_and_labels(rng):
    X = rng.integers(0, 10, size=(40, 3))
    y = (X[:, 0] > X[:, 1]).astype(np.uint8)
    results = []
    for Xc in (X, X.astype(np.float32), X.astype(np.float64), X.tolist()):
        net = nn.NeuralNetwork([nn.Layer(3, 2, nn.Identity(), seed=0)], nn.CrossEntropyLoss(), 0.1)
        net.fit(Xc, y, epochs=2, batch_size=8, seed=0)
        results.append(net._layers[0]._W.copy())
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
