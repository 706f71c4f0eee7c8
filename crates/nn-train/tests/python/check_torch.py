"""PyTorch's state_dict files, both ways, checked from Python.

    python check_torch.py make DIR    # writes a Sequential's state_dict, x.npy, y.npy
    cargo run --release --example pytorch -- --dir DIR
    python check_torch.py verify DIR  # compares nn's outputs with the Sequential's

The model is `nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
nn.Linear(16, 3))` in float32. Its state_dict is written with `safetensors.numpy`
(`metadata={"format": "pt"}`), which gives the bytes `safetensors.torch.save_file(
model.state_dict(), path)` gives: the same names, dtypes, shapes and row-major data.
PyTorch itself is not needed: its forward pass here is NumPy's, `Linear` being
`x @ W.T + b` (in float64 from the float32 parameters), and `load_state_dict` (strict)
is checked as PyTorch checks it: exactly the Sequential's keys, each of its shape.

`verify` checks that
- nn's outputs of the loaded state_dict (`nn_outputs.npy`) agree with the Sequential's
  within 1e-5 (|nn - torch| / max(|torch|, 1)), with the same predicted class for every
  sample;
- the file nn saved in PyTorch's layout (`trained.safetensors`, with nn's
  standardisation step folded into the first layer) loads into the Sequential strictly,
  and the Sequential's outputs on the raw x agree with nn's (`trained_outputs.npy`)
  within 1e-5, with the same classes.
"""

import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

TOLERANCE = 1e-5
SIZES = [5, 16, 16, 3]
# The activation after each Linear, at Sequential indices 0, 2, 4.
ACTIVATIONS = [lambda v: np.maximum(v, 0.0), np.tanh, lambda v: v]


def expected_state_dict():
    """Key -> shape of the Sequential's state_dict, as model.state_dict() lists it."""
    shapes = {}
    for i, (ins, outs) in enumerate(zip(SIZES, SIZES[1:])):
        shapes[f"{2 * i}.weight"] = (outs, ins)
        shapes[f"{2 * i}.bias"] = (outs,)
    return shapes


def load_state_dict(path):
    """The tensors of `path`, checked as load_state_dict(strict=True) checks them."""
    state = load_file(str(path))
    expected = expected_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        sys.exit(f"error: {path}: missing keys {missing}, unexpected keys {unexpected}")
    for key, shape in expected.items():
        if state[key].shape != shape:
            sys.exit(f"error: {path}: {key} has shape {state[key].shape}, expected {shape}")
        if state[key].dtype != np.float32:
            sys.exit(f"error: {path}: {key} is {state[key].dtype}, expected float32")
    return state


def forward(state, x):
    """The Sequential's output for rows x, in float64."""
    v = x.astype(np.float64)
    for i, activation in enumerate(ACTIVATIONS):
        w = state[f"{2 * i}.weight"].astype(np.float64)
        b = state[f"{2 * i}.bias"].astype(np.float64)
        v = activation(v @ w.T + b)
    return v


def difference(nn_out, torch_out):
    return float(np.max(np.abs(nn_out - torch_out) / np.maximum(np.abs(torch_out), 1.0)))


def make(directory):
    rng = np.random.default_rng(0)
    state = {}
    for i, (ins, outs) in enumerate(zip(SIZES, SIZES[1:])):
        bound = 1.0 / np.sqrt(ins)  # nn.Linear's default initialisation
        state[f"{2 * i}.weight"] = rng.uniform(-bound, bound, (outs, ins)).astype(np.float32)
        state[f"{2 * i}.bias"] = rng.uniform(-bound, bound, outs).astype(np.float32)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    # Features on different scales; the class is the sector of the first two.
    n = 1000
    x = rng.normal(size=(n, 5)) * np.array([1.0, 2.0, 100.0, 0.01, 5.0]) + np.array(
        [0.0, 1.0, 500.0, 0.0, -3.0]
    )
    angle = np.arctan2(x[:, 1] - 1.0, x[:, 0] * 2.0)
    y = ((angle + np.pi) / (2 * np.pi / 3)).astype(np.int64) % 3
    np.save(directory / "x.npy", x.astype(np.float32))
    np.save(directory / "y.npy", y)
    print(f"wrote {directory}/model.safetensors, x.npy ({n} x 5), y.npy")


def verify(directory):
    x = np.load(directory / "x.npy")
    state = load_state_dict(directory / "model.safetensors")
    torch_out = forward(state, x)
    nn_out = np.load(directory / "nn_outputs.npy").astype(np.float64)
    d = difference(nn_out, torch_out)
    same = np.array_equal(nn_out.argmax(1), torch_out.argmax(1))
    print(f"PyTorch -> nn: max difference {d:.2e}, same classes: {same}")
    failed = d > TOLERANCE or not same

    trained = load_state_dict(directory / "trained.safetensors")
    torch_out = forward(trained, x)
    nn_out = np.load(directory / "trained_outputs.npy").astype(np.float64)
    d = difference(nn_out, torch_out)
    same = np.array_equal(nn_out.argmax(1), torch_out.argmax(1))
    y = np.load(directory / "y.npy")
    accuracy = float(np.mean(torch_out.argmax(1) == y))
    print(
        f"nn -> PyTorch: load_state_dict (strict) ok, max difference {d:.2e}, "
        f"same classes: {same}, accuracy on x {100 * accuracy:.2f}%"
    )
    failed = failed or d > TOLERANCE or not same
    if failed:
        sys.exit(f"error: a difference above {TOLERANCE} or a different class")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "verify"):
        sys.exit("usage: python check_torch.py make|verify DIR")
    {"make": make, "verify": verify}[sys.argv[1]](Path(sys.argv[2]))
