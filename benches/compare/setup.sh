#!/usr/bin/env bash
# Creates benches/compare/.venv with numpy, torch, scikit-learn and onnxruntime for
# workloads.py.
# Idempotent: does nothing (beyond a quick import check) when the venv already works.
#
# Which torch, and why
# --------------------
# * The CPU-only wheels (torch==X+cpu) live only on the PyTorch project's own index, which
#   this workplace cannot reach (only pypi.org is); PyPI has no CPU-only torch build.
# * Debian (bookworm) ships python3-torch 1.13.1 (2022): CPU-only and small, but three
#   years / a major version behind, so its timings would not represent PyTorch as people
#   use it today. Not used.
# * PyPI's torch wheel with `--no-deps` (skipping the nvidia-*/cuda-toolkit/triton
#   dependencies) does not work: `import torch` eagerly preloads libcublasLt etc. and fails.
# So we install PyPI's default torch wheel with all of its dependencies. It pulls the
# CUDA runtime libraries (the venv is ~5.6 GB) that are never used here, but it runs the
# same CPU kernels as the +cpu build. From scratch this took ~80 s on the project machine
# (torch 2.15.0, numpy 2.4.6, scikit-learn 1.9.1); a second run takes ~3 s.
#
# Override the interpreter with PYTHON=/path/to/python3 (needs 3.10+ and the venv module).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
py="${PYTHON:-python3}"

check() {
    "$venv/bin/python" - <<'EOF' 2>/dev/null
import numpy, onnxruntime, sklearn, torch, threadpoolctl
print(f"numpy {numpy.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, onnxruntime {onnxruntime.__version__}")
EOF
}

if [ -x "$venv/bin/python" ] && check; then
    echo "setup.sh: $venv already complete"
    exit 0
fi

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating $venv with $("$py" --version 2>&1)"
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet numpy scikit-learn threadpoolctl torch onnxruntime
check
echo "setup.sh: done in $(( $(date +%s) - start )) s"
