#!/usr/bin/env python3
"""Reference timings for the `nn` comparison benchmarks: NumPy, PyTorch, scikit-learn.

Workloads (see README.md):
  per-sample  one SGD step on one sample, 784-16-16-10 LeakyReLU(0.1), MSE, lr 1e-3, f32;
              NumPy written like the original framework, and PyTorch (1 thread).
  epoch       one epoch over the 60,000 Fashion-MNIST training images, 784-256-128-10 ReLU,
              cross-entropy, batch 128, shuffled, 2 threads: PyTorch SGD(momentum 0.9,
              lr 0.01), PyTorch Adam(lr 1e-3), scikit-learn MLPClassifier (SGD momentum).
  accuracy    PyTorch, the epoch workload (SGD momentum) for 5 epochs, seeds 0, 1, 2:
              test accuracy per seed and the median.
  floor       the matrix products of one epoch alone (torch.matmul, 2 threads and 1).
  inference   the epoch network's logits for the 10,000 test images and for one image:
              ONNX Runtime on the file nn wrote (target/compare/modern.onnx), and PyTorch.

Every result is printed as a human-readable line and as a machine-readable line
    RESULT {"framework": ..., "workload": ..., "unit": ..., "value": ..., ...}

Usage: python workloads.py [--only per-sample|epoch|accuracy] [--quick] [--data-dir DIR]
"""

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

DEFAULT_DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
QUICK = False


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------

def result(framework, workload, unit, value, **extra):
    rec = {"framework": framework, "workload": workload, "unit": unit, "value": value}
    rec.update(extra)
    rec["quick"] = QUICK
    print("RESULT " + json.dumps(rec), flush=True)


def info(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------------------
# Data: IDX gzip files, read directly
# --------------------------------------------------------------------------------------

def load_idx(data_dir, split):
    """Returns (images float32 (n, 784) in [0, 1], labels int64 (n,)) or None if missing."""
    img = os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")
    lab = os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")
    if not (os.path.exists(img) and os.path.exists(lab)):
        return None
    with gzip.open(img, "rb") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(lab, "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    assert len(x) == len(y)
    return (x.astype(np.float32) / np.float32(255.0)), y.astype(np.int64)


def load_data(data_dir, need_test=False):
    train = load_idx(data_dir, "train")
    test = load_idx(data_dir, "t10k") if need_test else None
    if train is None or (need_test and test is None):
        return None
    return train, test


def random_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


# --------------------------------------------------------------------------------------
# (a) per-sample SGD step
# --------------------------------------------------------------------------------------

# ---- NumPy, written the way the original framework is written -------------------------

class LeakyReLU:
    def __init__(self, alpha=0.1):
        self.alpha = np.float32(alpha)  # f32 scalar so nothing is promoted to f64

    def f(self, x):
        return np.maximum(x, self.alpha * x)

    def df(self, x):
        return np.maximum(x > 0, self.alpha)


class MSELoss:
    def loss(self, values, target):
        return np.mean((values - target) ** 2)

    def dloss(self, values, target):
        return np.float32(2) * (values - target) / np.float32(values.size)


class Layer:
    def __init__(self, ins, outs, act_function, rng):
        self.ins = ins
        self.outs = outs
        self.act_function = act_function
        # The original's initialisation: N(0, 1/(rows*cols)).
        self._W = rng.normal(0, 1 / (outs * ins), size=(outs, ins)).astype(np.float32)
        self._b = rng.normal(0, 1 / outs, size=(outs, 1)).astype(np.float32)

    def forward(self, x):
        return self.act_function.f(np.dot(self._W, x) + self._b)


class NeuralNetwork:
    def __init__(self, layers, loss_function, learning_rate):
        self._layers = layers
        self._loss_function = loss_function
        self.lr = np.float32(learning_rate)
        for prev, nxt in zip(layers[:-1], layers[1:]):
            if prev.outs != nxt.ins:
                raise ValueError("Inconsistent layer sizes")

    def forward_pass(self, x):
        out = x
        for layer in self._layers:
            out = layer.forward(out)
        return out

    def loss(self, values, expected):
        return self._loss_function.loss(values, expected)

    def train(self, x, t):
        xs = [x]
        for layer in self._layers:
            xs.append(layer.forward(xs[-1]))

        dx = self._loss_function.dloss(xs.pop(), t)
        for layer, x in zip(self._layers[::-1], xs[::-1]):
            y = np.dot(layer._W, x) + layer._b
            db = layer.act_function.df(y) * dx
            dx = np.dot(layer._W.T, db)
            dW = np.dot(db, x.T)
            layer._W -= self.lr * dW
            layer._b -= self.lr * db


def per_sample_data(data_dir, steps):
    loaded = load_idx(data_dir, "train")
    if loaded is None:
        info(f"  (Fashion-MNIST not found in {data_dir}: using random data of the same shape)")
        x, y = random_data(steps)
        source = "random"
    else:
        x, y = loaded
        source = "fashion-mnist"
    x, y = x[:steps], y[:steps]
    onehot = np.zeros((len(y), 10), np.float32)
    onehot[np.arange(len(y)), y] = 1.0
    return np.ascontiguousarray(x), onehot, source


def bench_per_sample_numpy(x, t, steps, repeats):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    act = LeakyReLU(0.1)
    net = NeuralNetwork(
        [Layer(784, 16, act, rng), Layer(16, 16, act, rng), Layer(16, 10, act, rng)],
        MSELoss(),
        0.001,
    )
    # Column vectors, as in the original: x is (784, 1), t is (10, 1).
    xs = [x[i].reshape(784, 1) for i in range(steps)]
    ts = [t[i].reshape(10, 1) for i in range(steps)]
    times = []
    with threadpool_limits(limits=1):
        for i in range(min(200, steps)):  # warm-up
            net.train(xs[i], ts[i])
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(steps):
                net.train(xs[i], ts[i])
            times.append((time.perf_counter() - start) / steps * 1e6)
    for layer in net._layers:
        assert layer._W.dtype == np.float32 and layer._b.dtype == np.float32
    return times


def bench_per_sample_torch(x, t, steps, repeats):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 16), torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(16, 16), torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(16, 10), torch.nn.LeakyReLU(0.1),
    )
    loss_fn = torch.nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    X = torch.from_numpy(x)
    T = torch.from_numpy(t)

    def step(i):
        xi = X[i:i + 1]  # one sample, shape (1, 784)
        ti = T[i:i + 1]
        opt.zero_grad()
        loss = loss_fn(model(xi), ti)
        loss.backward()
        opt.step()

    times = []
    for i in range(min(200, steps)):  # warm-up
        step(i)
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        times.append((time.perf_counter() - start) / steps * 1e6)
    return times


def run_per_sample(args):
    steps, repeats = (500, 3) if QUICK else (5000, 5)
    info(f"== per-sample SGD step: 784-16-16-10 LeakyReLU(0.1), MSE, lr 0.001, f32, "
         f"{steps} steps x {repeats} repeats, 1 thread")
    x, t, source = per_sample_data(args.data_dir, steps)
    extra = dict(steps=steps, repeats=repeats, threads=1, data=source)

    times = bench_per_sample_numpy(x, t, steps, repeats)
    med = statistics.median(times)
    info(f"  numpy (original-style)  {med:8.2f} us/step   "
         f"(repeats: {', '.join(f'{v:.2f}' for v in times)})")
    result("numpy", "per_sample_step", "us", round(med, 3),
           values=[round(v, 3) for v in times], **extra)

    times = bench_per_sample_torch(x, t, steps, repeats)
    med = statistics.median(times)
    info(f"  pytorch                 {med:8.2f} us/step   "
         f"(repeats: {', '.join(f'{v:.2f}' for v in times)})")
    result("pytorch", "per_sample_step", "us", round(med, 3),
           values=[round(v, 3) for v in times], **extra)


# --------------------------------------------------------------------------------------
# (b) one epoch, (c) accuracy
# --------------------------------------------------------------------------------------

BATCH = 128


def torch_mlp():
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )


def torch_optimizer(name, params):
    import torch

    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    raise ValueError(name)


def torch_epoch(model, opt, loss_fn, X, Y, gen):
    import torch

    n = X.shape[0]
    perm = torch.randperm(n, generator=gen)
    model.train()
    for s in range(0, n, BATCH):
        idx = perm[s:s + BATCH]
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), Y[idx])
        loss.backward()
        opt.step()


def torch_accuracy(model, X, Y):
    import torch

    model.eval()
    with torch.no_grad():
        pred = model(X).argmax(dim=1)
    return (pred == Y).float().mean().item() * 100.0


def epoch_data(args, need_test=False):
    data = load_data(args.data_dir, need_test)
    if data is None:
        if need_test:
            sys.exit(f"Fashion-MNIST not found in {args.data_dir} (needed for --only accuracy)")
        info(f"  (Fashion-MNIST not found in {args.data_dir}: using random data of the same shape)")
        return (random_data(60000), None), "random"
    return data, "fashion-mnist"


def run_epoch(args):
    import torch
    from threadpoolctl import threadpool_limits

    threads = 2
    (train, _), source = epoch_data(args)
    x, y = train
    n = 6016 if QUICK else len(x)  # quick: a tenth of the set (47 batches)
    x, y = np.ascontiguousarray(x[:n]), y[:n]
    timed = 1 if QUICK else 3
    info(f"== one epoch: {n} samples, 784-256-128-10 ReLU, cross-entropy, batch {BATCH}, "
         f"shuffled, {threads} threads; median of {timed} epochs after 1 warm-up epoch")
    extra = dict(samples=n, batch=BATCH, threads=threads, epochs_timed=timed, data=source)

    torch.set_num_threads(threads)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    for opt_name, label in (("sgd_momentum", "SGD momentum 0.9 lr 0.01"), ("adam", "Adam lr 1e-3")):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        model = torch_mlp()
        opt = torch_optimizer(opt_name, model.parameters())
        times = []
        for e in range(1 + timed):
            start = time.perf_counter()
            torch_epoch(model, opt, loss_fn, X, Y, gen)
            if e > 0:
                times.append(time.perf_counter() - start)
        med = statistics.median(times)
        info(f"  pytorch {label:26s} {med:7.3f} s/epoch   "
             f"(epochs: {', '.join(f'{v:.3f}' for v in times)})")
        result("pytorch", f"epoch_{opt_name}", "s", round(med, 4),
               values=[round(v, 4) for v in times], **extra)

    # scikit-learn: fit(max_iter=1) is one epoch (one pass over the shuffled data).
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    times = []
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        for e in range(1 + timed):
            clf = MLPClassifier(
                hidden_layer_sizes=(256, 128), activation="relu", solver="sgd",
                momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.01,
                batch_size=BATCH, max_iter=1, shuffle=True, random_state=e,
            )
            start = time.perf_counter()
            clf.fit(x, y)
            if e > 0:
                times.append(time.perf_counter() - start)
    med = statistics.median(times)
    info(f"  scikit-learn MLPClassifier (sgd, m 0.9) {med:7.3f} s/epoch   "
         f"(epochs: {', '.join(f'{v:.3f}' for v in times)})")
    result("sklearn", "epoch_sgd_momentum", "s", round(med, 4),
           values=[round(v, 4) for v in times], **extra)


def run_accuracy(args):
    import torch

    threads = 2
    (train, test), source = epoch_data(args, need_test=True)
    x, y = train
    xt, yt = test
    epochs = 1 if QUICK else 5
    n = 6016 if QUICK else len(x)
    seeds = (0, 1, 2)
    info(f"== accuracy: pytorch, {n} training samples, {epochs} epochs, 784-256-128-10 ReLU, "
         f"cross-entropy, SGD momentum 0.9 lr 0.01, batch {BATCH}, default Linear init; "
         f"test set {len(xt)} samples")
    torch.set_num_threads(threads)
    X, Y = torch.from_numpy(np.ascontiguousarray(x[:n])), torch.from_numpy(y[:n])
    XT, YT = torch.from_numpy(xt), torch.from_numpy(yt)
    loss_fn = torch.nn.CrossEntropyLoss()
    extra = dict(samples=n, epochs=epochs, batch=BATCH, optimizer="sgd_momentum", data=source)
    accs = []
    for seed in seeds:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = torch_mlp()
        opt = torch_optimizer("sgd_momentum", model.parameters())
        start = time.perf_counter()
        for _ in range(epochs):
            torch_epoch(model, opt, loss_fn, X, Y, gen)
        secs = time.perf_counter() - start
        acc = torch_accuracy(model, XT, YT)
        accs.append(acc)
        info(f"  seed {seed}: test accuracy {acc:.2f} %   ({secs:.1f} s)")
        result("pytorch", "accuracy", "%", round(acc, 2), seed=seed, **extra)
    med = statistics.median(accs)
    info(f"  median over seeds {list(seeds)}: {med:.2f} %")
    result("pytorch", "accuracy", "%", round(med, 2), seed="median",
           values=[round(a, 2) for a in accs], **extra)


# --------------------------------------------------------------------------------------
# (d) the matrix-product floor, (e) inference
# --------------------------------------------------------------------------------------

def run_floor(args):
    """The products of one epoch of 784-256-128-10 at batch 128 (row-major, as PyTorch lays
    out a batch): forward x·Wᵀ, weight gradients deltaᵀ·x, input gradients delta·W of
    layers 2 and 3."""
    import torch

    samples = 6016 if QUICK else 60000
    sizes = [784, 256, 128, 10]
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.rand(*shape, generator=gen) * 2 - 1

    weights = [rand(sizes[i + 1], sizes[i]) for i in range(3)]
    grads = [torch.empty(sizes[i + 1], sizes[i]) for i in range(3)]

    def make(batch):
        xs = [rand(batch, n) for n in sizes]
        deltas = [rand(batch, n) for n in sizes[1:]]
        dxs = [torch.empty(batch, n) for n in sizes]

        def step():
            for i in range(3):
                torch.matmul(xs[i], weights[i].t(), out=xs[i + 1])
            for i in (2, 1, 0):
                torch.matmul(deltas[i].t(), xs[i], out=grads[i])
                if i > 0:
                    torch.matmul(deltas[i], weights[i], out=dxs[i])
        return step

    full, last = divmod(samples, BATCH)
    step, last_step = make(BATCH), (make(last) if last else None)

    def epoch():
        start = time.perf_counter()
        for _ in range(full):
            step()
        if last_step:
            last_step()
        return time.perf_counter() - start

    flop = 2.0 * (2.0 * (784 * 256 + 256 * 128 + 128 * 10) + (256 * 128 + 128 * 10))
    for threads in (2, 1):
        torch.set_num_threads(threads)
        epoch()
        times = [epoch() for _ in range(3)]
        med = statistics.median(times)
        gflops = flop * samples / med / 1e9
        info(f"  pytorch epoch products, {threads} thread(s): {med:.3f} s, {gflops:.1f} GFLOP/s "
             f"(runs: {', '.join(f'{v:.3f}' for v in times)})")
        result("pytorch", f"epoch_products_{threads}_threads", "s", round(med, 4),
               threads=threads, gflops=round(gflops, 1), samples=samples,
               values=[round(v, 4) for v in times])


def run_inference(args):
    import onnxruntime as ort
    import torch

    path = "target/compare/modern.onnx"
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run `cargo bench --bench compare -- --only inference` first")
    data = load_data(args.data_dir, need_test=True)
    xt = data[1][0] if data else random_data(10000)[0]
    xt = np.ascontiguousarray(xt[:10000], dtype=np.float32)
    repeats, calls = (3, 200) if QUICK else (10, 2000)

    def timed(run, n, scale):
        run()
        out = []
        for _ in range(n):
            start = time.perf_counter()
            run()
            out.append((time.perf_counter() - start) * scale)
        return out

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    ort_batch = timed(lambda: session.run(["output"], {name: xt}), repeats, 1e3)
    singles = [xt[j:j + 1] for j in range(calls)]
    it = iter(range(10**9))
    ort_one = timed(lambda: session.run(["output"], {name: singles[next(it) % calls]}), calls, 1e6)
    info(f"  onnxruntime {ort.__version__}: 10,000 images {statistics.median(ort_batch):.2f} ms, "
         f"one image {statistics.median(ort_one):.2f} us")
    result("onnxruntime", "predict_10000", "ms", round(statistics.median(ort_batch), 3))
    result("onnxruntime", "predict_1", "us", round(statistics.median(ort_one), 3))

    torch.set_num_threads(2)
    model = torch_mlp().eval()
    X = torch.from_numpy(xt)
    with torch.no_grad():
        t_batch = timed(lambda: model(X), repeats, 1e3)
        rows = [X[j:j + 1] for j in range(calls)]
        it2 = iter(range(10**9))
        t_one = timed(lambda: model(rows[next(it2) % calls]), calls, 1e6)
    info(f"  pytorch: 10,000 images {statistics.median(t_batch):.2f} ms, "
         f"one image {statistics.median(t_one):.2f} us")
    result("pytorch", "predict_10000", "ms", round(statistics.median(t_batch), 3), threads=2)
    result("pytorch", "predict_1", "us", round(statistics.median(t_one), 3), threads=2)


# --------------------------------------------------------------------------------------

def main():
    global QUICK
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["per-sample", "epoch", "accuracy", "floor", "inference"])
    p.add_argument("--quick", action="store_true", help="short measurements (smoke test)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                   help="folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "
                        "(default: $FASHION_MNIST_DIR or %(default)s)")
    args = p.parse_args()
    QUICK = args.quick

    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info(f"# python {platform.python_version()}, numpy {np.__version__}, "
         f"torch {torch.__version__}, scikit-learn {sklearn.__version__}; "
         f"cpu: {cpu}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}"
         f"{'; QUICK' if QUICK else ''}")

    start = time.perf_counter()
    if args.only in (None, "per-sample"):
        run_per_sample(args)
    if args.only in (None, "epoch"):
        run_epoch(args)
    if args.only in (None, "accuracy"):
        run_accuracy(args)
    if args.only in (None, "floor"):
        run_floor(args)
    if args.only in (None, "inference"):
        run_inference(args)
    info(f"# total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
