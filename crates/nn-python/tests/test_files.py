"""``save`` and ``load``: the safetensors files of the Rust side, both ways, bit-identical."""

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import nn
from conftest import twin_networks

ROOT = pathlib.Path(__file__).resolve().parents[3]
DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_and_load_round_trip(dtype, tmp_path, rng):
    net, _ = twin_networks([5, 4, 3], ["leaky_relu_0.3", "sigmoid"], "cross_entropy", lr=0.125, dtype=dtype)
    path = tmp_path / "net.safetensors"
    net.save(path)
    loaded = nn.NeuralNetwork.load(str(path))
    assert loaded.dtype == dtype and loaded.lr == 0.125
    assert repr(loaded._layers[0].act_function) == "LeakyReLU(0.3)"
    assert isinstance(loaded._layers[1].act_function, nn.Sigmoid)
    assert isinstance(loaded._loss_function, nn.CrossEntropyLoss)
    for a, b in zip(net._layers, loaded._layers):
        np.testing.assert_array_equal(a._W, b._W)
        np.testing.assert_array_equal(a._b, b._b)
    x = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(net.forward_pass(x), loaded.forward_pass(x))
    again = tmp_path / "again.safetensors"
    loaded.save(again)
    assert path.read_bytes() == again.read_bytes()


def cargo():
    found = shutil.which("cargo")
    if found is None or not DATA.exists():
        pytest.skip("needs cargo and Fashion-MNIST (the Rust side's mnist example)")
    return found


def run_mnist(*args):
    command = [cargo(), "run", "--release", "--quiet", "--example", "mnist", "--", *args]
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def read_idx(name):
    import gzip

    with gzip.open(DATA / name) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


@pytest.mark.slow
def test_files_of_the_rust_side_both_ways(tmp_path):
    """The Rust mnist example saves a network: Python loads it, finds the accuracy the
    example printed, and saves the same bytes. Python trains and saves one: the example
    loads it and prints the accuracy Python measured."""
    rust_file = tmp_path / "rust.safetensors"
    out = run_mnist("--config", "small", "--limit", "5000", "--save", str(rust_file))
    net = nn.NeuralNetwork.load(rust_file)
    assert net.dtype == "float32"
    X = read_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    y = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    accuracy = 100 * net.evaluate(X, y)["accuracy"]  # raw pixels: the file scales them
    assert f"{accuracy:.2f}" in out, (accuracy, out)
    copy = tmp_path / "copy.safetensors"
    net.save(copy)
    assert copy.read_bytes() == rust_file.read_bytes()

    ours = nn.NeuralNetwork(
        [nn.Layer(784, 10, nn.LeakyReLU(), seed=0)], nn.CrossEntropyLoss(), 1e-6, dtype="float32"
    )
    ours.fit(X[:2000], y[:2000], epochs=1, batch_size=32, seed=0)
    python_file = tmp_path / "python.safetensors"
    ours.save(python_file)
    accuracy = 100 * ours.evaluate(X, y)["accuracy"]
    out = run_mnist("--load", str(python_file))
    assert out.strip().splitlines()[-1].endswith(f"{accuracy:.2f}%"), (accuracy, out)
