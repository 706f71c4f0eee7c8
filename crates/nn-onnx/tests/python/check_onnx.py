"""Runs nn's ONNX exports in ONNX Runtime and compares them with nn's own outputs.

The directory is what `cargo run --release --example onnx -- --check-dir DIR` writes: for
each network NAME, `NAME.onnx`, its inputs `NAME.input.npy` (one sample per row) and
nn's outputs for them, `NAME.output.npy` (and `NAME.probabilities.npy`). Each model is
run by ONNX Runtime's CPU provider; every output must have nn's dtype and shape, and
agree with nn's within a relative difference of 1e-5:

    difference = |onnx - nn| / max(|nn|, 1)

that is, relative for values of magnitude 1 or more and absolute below. A layer's
output is a sum of terms of magnitude about 1, whose rounding errors (different
summation orders in nn's and ONNX Runtime's matrix products, different exp and tanh)
are of the order of the float type's epsilon times that magnitude, however small the
sum comes out: a plain relative difference of an output that cancels to 1e-6 would
measure the cancellation, not the export. The script prints, per model and output, this
difference and the plain relative one (|onnx - nn| / |nn|, over outputs with
|nn| >= 1e-3) for information. When the `onnx` package is installed, each model also
goes through `onnx.checker.check_model(full_check=True)`.

Usage: python check_onnx.py DIR
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-5

try:  # optional: the ONNX checker validates the file against the specification
    import onnx
    import onnx.checker
except ImportError:
    onnx = None


def difference(onnx_out, nn_out):
    """max |onnx - nn| / max(|nn|, 1) over the entries."""
    onnx_out = onnx_out.astype(np.float64)
    nn_out = nn_out.astype(np.float64)
    return float(np.max(np.abs(onnx_out - nn_out) / np.maximum(np.abs(nn_out), 1.0)))


def plain_relative(onnx_out, nn_out):
    """max |onnx - nn| / |nn| over the entries with |nn| >= 1e-3 (for information)."""
    onnx_out = onnx_out.astype(np.float64)
    nn_out = nn_out.astype(np.float64)
    mask = np.abs(nn_out) >= 1e-3
    if not mask.any():
        return 0.0
    return float(np.max(np.abs(onnx_out - nn_out)[mask] / np.abs(nn_out)[mask]))


def check(directory):
    inputs = sorted(directory.glob("*.input.npy"))
    if not inputs:
        sys.exit(f"error: no *.input.npy in {directory}")
    print(f"onnxruntime {ort.__version__}" + (f", onnx {onnx.__version__}" if onnx else ""))
    failures = []
    passed = 0
    for input_path in inputs:
        name = input_path.name[: -len(".input.npy")]
        model_path = directory / f"{name}.onnx"
        if onnx is not None:
            onnx.checker.check_model(onnx.load(str(model_path)), full_check=True)
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        x = np.load(input_path)
        names = [o.name for o in session.get_outputs()]
        results = dict(zip(names, session.run(None, {"input": x})))
        expected_names = ["output"] + (
            ["probabilities"] if (directory / f"{name}.probabilities.npy").exists() else []
        )
        if names != expected_names:
            failures.append(f"{name}: outputs {names}, expected {expected_names}")
            continue
        for output in names:
            want = np.load(directory / f"{name}.{output}.npy")
            got = results[output]
            if got.dtype != want.dtype or got.shape != want.shape:
                failures.append(
                    f"{name}.{output}: {got.dtype}{got.shape}, nn gave {want.dtype}{want.shape}"
                )
                continue
            d = difference(got, want)
            verdict = "ok" if d <= TOLERANCE else "FAIL"
            print(
                f"{verdict:4} {name + '.' + output:46} {got.dtype} {str(got.shape):10} "
                f"max difference {d:.2e} (plain relative {plain_relative(got, want):.2e})"
            )
            if d <= TOLERANCE:
                passed += 1
            else:  # NaN too
                failures.append(f"{name}.{output}: difference {d:.2e} > {TOLERANCE:.0e}")
    if failures:
        print("\n".join(["failures:"] + failures))
    print(f"{passed} passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    check(Path(sys.argv[1]))
