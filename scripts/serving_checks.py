"""Compare `podwright serve-sim` with published throughput-latency curves.
Run: .venv/bin/python scripts/serving_checks.py examples/heldout/serving/*.yaml"""

import sys

from podwright.sim.serving_checks import serving_errors, summary

rows = serving_errors(sys.argv[1:])
print(f"{'scenario':36s} {'conc':>5s}  {'TTFT ms meas/sim':>22s}  {'ITL ms meas/sim':>18s}  "
      f"{'tok/s meas/sim':>20s}")  # fmt: skip
for r in rows:
    m, s, e = r["measured"], r["simulated"], r["error"]
    cells = [f"{m[k]:8.4g} {s[k]:8.4g} {100 * e[k]:+4.0f}%"
             for k in ("ttft_ms", "tpot_ms", "throughput")]  # fmt: skip
    print(f"{r['scenario']:36s} {r['concurrency']:5d}  " + "  ".join(cells))
print("median |error|:", {k: f"{100 * v:.1f}%" for k, v in summary(rows).items()})
