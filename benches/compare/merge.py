#!/usr/bin/env python3
"""Reads RESULT lines of nn and the Python frameworks and prints them side by side.

For times, the ratio is how many times faster nn is (their time / nn's time); for accuracy,
the difference in percentage points (nn - theirs). Standard library only.
"""
import json
import sys


def main(path):
    rows = {}
    with open(path) as f:
        for line in f:
            if line.startswith("RESULT "):
                r = json.loads(line[len("RESULT "):])
                key = (r["workload"], str(r.get("seed", "")))
                rows.setdefault(key, {})[r["framework"]] = r
    print()
    print(f"{'workload':<22} {'framework':<10} {'value':>12}  {'vs nn':>14}")
    for (workload, seed), by_framework in sorted(rows.items()):
        if "nn" not in by_framework:
            continue
        ours = by_framework["nn"]
        label = workload + (f" ({seed})" if seed else "")
        for framework, r in sorted(by_framework.items(), key=lambda kv: kv[0] != "nn"):
            value = f"{r['value']:.4g} {r['unit']}"
            if framework == "nn":
                compare = ""
            elif r["unit"] == "%":
                compare = f"nn {ours['value'] - r['value']:+.2f} pp"
            else:
                compare = f"nn {r['value'] / ours['value']:.2f}x faster"
            print(f"{label:<22} {framework:<10} {value:>12}  {compare:>14}")
            label = ""


if __name__ == "__main__":
    main(sys.argv[1])
