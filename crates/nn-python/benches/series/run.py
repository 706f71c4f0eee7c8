"""Runs the series' experiments (``quadrants.py``, ``mnist.py mse``, ``mnist.py small``,
``teacher_student.py``), unmodified, against this crate's ``nn`` and against the NumPy
reference of the original (``tests/reference_nn.py``, put first on the path as ``nn``),
for several seeds, and prints each one's results side by side.

    python crates/nn-python/benches/series/run.py [--seeds N] [--quadrant-seeds N]
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE.parents[1] / "tests" / "reference_nn.py"


def run(script, args, seed, reference_dir):
    env = dict(os.environ, SEED=str(seed), PYTHONPATH=os.pathsep.join(filter(None, [reference_dir, str(HERE)])))
    out = subprocess.run([sys.executable, str(HERE / script), *args], env=env, check=True, capture_output=True, text=True, cwd=HERE)
    return out.stdout.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quadrant-seeds", type=int, default=10)
    parser.add_argument("--only", choices=["quadrants", "mse", "small", "teacher"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as reference_dir:
        shutil.copy(REFERENCE, os.path.join(reference_dir, "nn.py"))
        experiments = [
            ("quadrants", "quadrants.py", [], args.quadrant_seeds),
            ("mse", "mnist.py", ["mse"], args.seeds),
            ("small", "mnist.py", ["small"], args.seeds),
            ("teacher", "teacher_student.py", [], args.seeds),
        ]
        for name, script, script_args, seeds in experiments:
            if args.only and args.only != name:
                continue
            for seed in range(seeds):
                for label, path in (("nn (Rust engine)", None), ("NumPy reference", reference_dir)):
                    print(f"seed {seed}, {label}: {run(script, script_args, seed, path)}", flush=True)


if __name__ == "__main__":
    main()
