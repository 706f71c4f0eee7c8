"""The Python module against the NumPy reference of the original nn.py and against the
Rust engine driven from Rust, in one run on one machine.

    python crates/nn-python/benches/compare.py [--quick] [--data-dir DIR] [--no-rust]

Workloads (Fashion-MNIST, 60 000 training images):

- per-sample: the series' loop, ``net.train(x, t)`` per image, 784→16→16→10 LeakyReLU,
  MSE on int one-hot columns, learning rate 0.001, the original's initialisation.
  * one pass in float64 on raw int64 pixel columns (``row.reshape(784, 1)``), the
    series' exact loop, for nn and for the NumPy reference (``tests/reference_nn.py``);
  * the Rust bench's method (5 runs of 5 000 consecutive images, median), in float32 on
    pixels / 255, for nn from Python; the Rust figure is ``cargo bench --bench compare --
    --only per-sample`` through a ``SampleStream`` (which the module's ``train`` uses),
    run by this script.
- epoch: ``fit`` of one epoch, 784→256→128→10 ReLU, cross-entropy, He-uniform weights,
  batches of 128 reshuffled each epoch, SGD momentum 0.9 at 0.01, float32, both cores;
  median of 3 epochs after a warm-up. The Rust figure is ``cargo bench --bench compare --
  --only epoch``.
"""

import argparse
import gzip
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent / "tests"))

import nn  # noqa: E402
import reference_nn  # noqa: E402


def read_idx(path):
    with gzip.open(path) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz")).reshape(-1, 784)
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels.astype(np.int64)


def series_net(module, seed):
    """784→16→16→10 LeakyReLU, MSE, lr 0.001, the original's initialisation."""
    np.random.seed(seed)
    if hasattr(module, "seed"):
        module.seed(seed)
    layers = [
        module.Layer(784, 16, module.LeakyReLU()),
        module.Layer(16, 16, module.LeakyReLU()),
        module.Layer(16, 10, module.LeakyReLU()),
    ]
    return module.NeuralNetwork(layers, module.MSELoss(), 0.001)


def one_hot_columns():
    ts = {}
    for t in range(10):
        tv = np.zeros((10, 1), dtype=int)
        tv[t] = 1
        ts[t] = tv
    return ts


def one_pass(module, data, limit):
    """The series' training loop over the rows [label, pixels...] of an int64 array."""
    net = series_net(module, 0)
    ts = one_hot_columns()
    started = time.perf_counter()
    for row in data[:limit]:
        net.train(row[1:].reshape((784, 1)), ts[row[0]])
    return (time.perf_counter() - started) / limit * 1e6, net


def accuracy(net, data):
    correct = 0
    for row in data:
        correct += int(np.argmax(net.forward_pass(row[1:].reshape((784, 1)))) == row[0])
    return 100 * correct / len(data)


def median(values):
    return float(np.median(values))


def per_sample_like_rust(images, labels, steps, repeats):
    """The Rust bench's method: float32 columns /255, 200 warm-up steps, then `repeats`
    runs of `steps` consecutive images; the median µs per step."""
    x = (images.astype(np.float32) / np.float32(255.0))
    ts = one_hot_columns()
    layers = [nn.Layer(784, 16, nn.LeakyReLU(), seed=0), nn.Layer(16, 16, nn.LeakyReLU(), seed=1),
              nn.Layer(16, 10, nn.LeakyReLU(), seed=2)]
    net = nn.NeuralNetwork(layers, nn.MSELoss(), 0.001, dtype="float32")
    j = 0
    n = len(x)
    for _ in range(200):
        net.train(x[j].reshape((784, 1)), ts[labels[j]])
        j = (j + 1) % n
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            net.train(x[j].reshape((784, 1)), ts[labels[j]])
            j = (j + 1) % n
        times.append((time.perf_counter() - started) / steps * 1e6)
    return median(times), times


def epoch_fit(images, labels, measured):
    X = images.astype(np.float32) / np.float32(255.0)
    layers = [
        nn.Layer(784, 256, nn.ReLU(), init="he_uniform", seed=0),
        nn.Layer(256, 128, nn.ReLU(), init="he_uniform", seed=1),
        nn.Layer(128, 10, nn.Identity(), init="he_uniform", seed=2),
    ]
    net = nn.NeuralNetwork(layers, nn.CrossEntropyLoss(), 0.01, dtype="float32")
    sgd = nn.SGD(0.01, momentum=0.9)
    times = []
    for run in range(measured + 1):
        started = time.perf_counter()
        net.fit(X, labels, epochs=1, batch_size=128, optimizer=sgd, seed=run)
        if run > 0:
            times.append(time.perf_counter() - started)
    return median(times), times, net


def rust_results(only, quick, data_dir):
    command = ["cargo", "bench", "--bench", "compare", "--", "--only", only, "--data-dir", data_dir]
    if quick:
        command.append("--quick")
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return {r["workload"]: r["value"] for r in (json.loads(line[len("RESULT "):]) for line in out.splitlines() if line.startswith("RESULT "))}


def cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
        flags = next(l for l in out.splitlines() if l.startswith("Flags"))
        isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
        return f"{model} ({isa}), {os.cpu_count()} cores"
    except Exception:  # noqa: BLE001
        return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--quick", action="store_true", help="fewer images and runs")
    parser.add_argument("--no-rust", action="store_true", help="skip the cargo benches")
    args = parser.parse_args()

    print(f"CPU: {cpu()}; Python {platform.python_version()}, NumPy {np.__version__}")
    images, labels = load(args.data_dir, "train")
    test_images, test_labels = load(args.data_dir, "test")
    # The series' rows: label then pixels, int64 (np.genfromtxt(..., dtype=int) of the CSV).
    data = np.hstack([labels[:, None], images.astype(np.int64)])
    test_data = np.hstack([test_labels[:, None], test_images.astype(np.int64)])
    limit = 10_000 if args.quick else len(data)

    ours_us, ours = one_pass(nn, data, limit)
    print(f"per-sample, series loop, float64, int64 pixels, {limit} images: nn {ours_us:.2f} µs/step "
          f"(test accuracy {accuracy(ours, test_data):.2f}%)")
    ref_us, theirs = one_pass(reference_nn, data, limit)
    print(f"per-sample, series loop, float64, int64 pixels, {limit} images: NumPy reference "
          f"{ref_us:.2f} µs/step (test accuracy {accuracy(theirs, test_data):.2f}%); nn is {ref_us / ours_us:.1f}× faster")

    steps, repeats = (1_000, 3) if args.quick else (5_000, 5)
    like_rust, runs = per_sample_like_rust(images, labels, steps, repeats)
    print(f"per-sample, Rust bench's method, float32: nn from Python {like_rust:.2f} µs/step (runs {np.round(runs, 2).tolist()})")

    epoch, runs, net = epoch_fit(images, labels, 1 if args.quick else 3)
    X_test = test_images.astype(np.float32) / np.float32(255.0)
    print(f"epoch, fit from Python, SGD momentum, batch 128, float32: {epoch:.3f} s (runs {np.round(runs, 3).tolist()}; "
          f"test accuracy {100 * net.evaluate(X_test, test_labels)['accuracy']:.2f}%)")

    if not args.no_rust:
        rust = rust_results("per-sample", args.quick, args.data_dir)
        rust.update(rust_results("epoch", args.quick, args.data_dir))
        # The module's train(x, t) runs in a SampleStream: its Rust counterpart.
        step, plain, sgd = rust["per_sample_stream"], rust["per_sample_step"], rust["epoch_sgd_momentum"]
        print(f"per-sample, Rust (cargo bench --bench compare), float32: {step:.2f} µs/step in a SampleStream "
              f"({plain:.2f} through train); nn from Python is {like_rust - step:+.2f} µs/step")
        print(f"epoch, Rust (cargo bench --bench compare), SGD momentum: {sgd:.3f} s; "
              f"fit from Python is {100 * (epoch / sgd - 1):+.1f}%")


if __name__ == "__main__":
    main()
