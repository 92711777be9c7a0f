"""BoM speed: build every catalog system at ~100,000 chips, in process (not a CI test).

Run: .venv/bin/python benchmarks/bench_bom.py
"""

from __future__ import annotations

import math
import platform
import time

from podwright.specs import catalog_names, load_system
from podwright.topology import build


def valid_chips(system, target: int = 100_000) -> int:
    """The smallest chip count >= target that the design allows."""
    su = system.scale_up
    unit = system.node.chips
    if su.kind in ("torus", "full_mesh"):
        unit = math.lcm(unit, math.prod(su.dims))
    return math.ceil(target / unit) * unit


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    worst = 0.0
    for name in catalog_names("systems"):
        system = load_system(name)
        n = valid_chips(system)
        build(system, n)  # warm the catalog caches
        t0 = time.perf_counter()
        reps = 20
        for _ in range(reps):
            bom = build(system, n).bom()
        dt = (time.perf_counter() - t0) / reps
        worst = max(worst, dt)
        tot = bom["totals"]
        print(
            f"{name:18s} {n:>7,d} chips  {dt * 1000:7.2f} ms  "
            f"optics {tot['optical_modules']:>9,.0f}  switch chips {tot['switch_chips']:>7,.0f}"
        )
    print(f"slowest: {worst * 1000:.2f} ms per BoM (target < 1 s)")


if __name__ == "__main__":
    main()
