"""Sweep throughput: a 100,000-point design sweep on 2 local worker processes (not a CI test).

Run: .venv/bin/python benchmarks/bench_sweep.py [--kind bom|train] [--points N] [--workers N]

What a point is:
- bom (default): one what-if design of an HGX H100 cluster, random over chip count, scale-out
  oversubscription and tiers, switch-end optic type and price, HBM capacity and chip price; the
  point is the topology build and BoM of that design (every count derived), its cost columns,
  and one Parquet row. Designs that the builder rejects (too few tiers for the chip count) are
  recorded with their error, as in any sweep.
- train: the same kind of design plus an analytical training estimate of Llama 3.1 70B with a
  fixed layout (tp 8, pp 4), i.e. `predict` of one layout per point.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from podwright.search.results import query
from podwright.search.sweep import parse_sweep, run_sweep

DESIGN_AXES = {
    "chips": [1024, 2048, 4096, 8192, 16384, 32768],
    "system.scale_out.oversubscription": {"low": 1.0, "high": 4.0},
    "system.scale_out.max_tiers": [2, 3],
    "system.scale_out.switch_optic": ["osfp-800g-2xdr4", "osfp-800g-lpo"],
    "part.osfp-800g-2xdr4.price_usd": [500, 700, 900, 1100],
    "chip.hbm_gb": {"low": 80, "high": 192},
    "chip.price_usd": {"low": 20000, "high": 40000},
}


def sweep_spec(kind: str, points: int) -> dict:
    base: dict = {"system": "hgx-h100-ib", "chips": 1024}
    if kind == "train":
        base.update(
            model="llama-3.1-70b",
            training={
                "seq_len": 8192,
                "global_batch": 1024,
                "parallel": {"tp": 8, "pp": 4},
                "recompute": "selective",
            },
        )
    return {
        "name": f"bench-{kind}",
        "base": base,
        "mode": "random",
        "n": points,
        "seed": 0,
        "axes": DESIGN_AXES,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["bom", "train"], default="bom")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", default="local")
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {args.workers} {args.executor} workers"
    )
    sweep = parse_sweep(sweep_spec(args.kind, args.points))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        s = run_sweep(sweep, out, executor=args.executor, workers=args.workers, progress=False)
        size = sum(p.stat().st_size for p in out.glob("*.parquet"))
        print(
            f"{args.kind}: {s['evaluated']:,} points in {s['seconds']:.1f} s "
            f"(+{s['startup_s']:.1f} s start-up) = {s['points_per_s']:,.0f} points/s; "
            f"{s['errors']:,} points with errors; {s['files']} Parquet files, {size / 1e6:.1f} MB"
        )
        t0 = time.perf_counter()
        cols, rows = query(
            out,
            "SELECT chips, count(*) AS points, min(capex_usd_per_chip) AS best_capex_per_chip, "
            "avg(optical_modules_per_chip) AS optics_per_chip FROM results "
            "WHERE error IS NULL GROUP BY chips ORDER BY chips",
        )
        dt = time.perf_counter() - t0
        print(f"DuckDB group-by over {s['points']:,} rows: {dt * 1e3:.0f} ms")
        print("  " + " | ".join(cols))
        for r in rows:
            print("  " + " | ".join(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r))
        t0 = time.perf_counter()
        s2 = run_sweep(sweep, out, executor=args.executor, workers=args.workers, progress=False)
        print(
            f"rerun (resume check): {s2['already_done']:,} done before, {s2['evaluated']} "
            f"evaluated, {time.perf_counter() - t0:.2f} s"
        )


if __name__ == "__main__":
    main()
