"""One line per held-out file (examples/heldout/*.yaml): measurements, median and 90th-percentile
|error|, and the share inside the 80% interval. Run: .venv/bin/python scripts/heldout_summary.py"""

from pathlib import Path

from podwright.estimate.validate import load_cases, validate_cases

root = Path(__file__).resolve().parents[1] / "examples" / "heldout"
print(f"{'file':40s} {'rows':>5s} {'median':>7s} {'p90':>7s} {'in 80% interval':>16s}")
total = 0
for path in sorted(root.glob("*.yaml")):
    r = validate_cases(load_cases(path))
    n = len(r["cases"])
    total += n
    print(f"{path.name:40s} {n:5d} {100 * r['median_abs_error']:6.1f}% {100 * r['p90_abs_error']:6.1f}%"
          f" {100 * r['interval_coverage']:15.0f}%")  # fmt: skip
print(f"{'all':40s} {total:5d}")
