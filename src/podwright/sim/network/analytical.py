"""Check the analytical model's per-level bandwidth (estimate/network.py) against the simulator.

For every level of the fabric the analytical model states the bus bandwidth a chip gets for
traffic that crosses that level (scale-up: `up_bandwidth`, scale-out: `out_bandwidth`). The
simulator measures the same quantity: a ring all_gather whose every hop crosses the level
(scale-up: the members of one domain; scale-out level t: one chip per domain, on one rail,
spanning that level's group) gives busbw = the per-chip bandwidth of the level.
"""

from __future__ import annotations

import numpy as np

from podwright.estimate.network import NetworkModel
from podwright.sim.network.network import Network
from podwright.sim.network.simulate import simulate
from podwright.topology import Fabric, build


def check_analytical(system: str | Fabric, chips: int | None = None, size: float = 2**40,
                     tolerance: float = 0.10) -> list[dict]:  # fmt: skip
    fabric = system if isinstance(system, Fabric) else build(system, chips)
    model = NetworkModel.of(fabric)
    net = Network.of(fabric)
    rows = []
    up = fabric.scale_up
    if up and up.group >= 2:
        m = min(up.group, fabric.chips)
        algo = "direct" if up.kind == "full_mesh" else "ring"
        r = simulate(fabric, "all_gather", size, m, network=net, algorithm=algo)
        ana = float(model.up_bandwidth(np.array([float(m)]), False)[0])
        rows.append(_row(up.name, m, 1, ana, r, tolerance))
    dom = up.group if up else 1
    # a huge buffer makes the per-step latency negligible: bandwidth against bandwidth
    for lv in (lv for lv in fabric.levels if lv.fabric == "scale_out"):
        group = lv.group // dom
        if group < 2:
            continue
        r = simulate(fabric, "all_gather", size, group, stride=dom, network=net, algorithm="ring")
        ana = float(model.out_bandwidth(np.array([float(lv.group)]))[0])
        rows.append(_row(lv.name, group, dom, ana, r, tolerance))
    return rows


def _row(level, group, stride, ana, r, tol) -> dict:
    sim = r["busbw_gbs"]
    return {
        "level": level,
        "group": group,
        "stride": stride,
        "analytical_gbs": ana,
        "simulated_gbs": sim,
        "ratio": sim / ana if ana else float("nan"),
        "agrees": abs(sim / ana - 1) <= tol if ana else False,
    }
