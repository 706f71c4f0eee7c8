#!/usr/bin/env bash
# Runs the comparison workloads in nn and in NumPy/PyTorch/scikit-learn, in one go on the
# same machine, and prints the figures side by side with their ratios.
#
#   bash benches/compare/setup.sh     # once: the git-ignored virtualenv with torch etc.
#   bash benches/compare/run.sh [--only per-sample|epoch|accuracy|floor|inference] [--quick]
#
# Measure on an idle machine: the header prints the load average. All arguments are
# passed to both sides.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
python="$here/.venv/bin/python"
if [ ! -x "$python" ]; then
    echo "error: no virtualenv at $here/.venv; run: bash benches/compare/setup.sh" >&2
    exit 1
fi
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --quiet --bench compare -- "$@" | tee -a "$results"
"$python" "$here/workloads.py" "$@" | tee -a "$results"
python3 "$here/merge.py" "$results"
