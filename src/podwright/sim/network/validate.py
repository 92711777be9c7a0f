"""The simulator against published collective measurements (nccl-tests, DeepEP).

Reads validation/collectives.yaml records of kind `collective` whose `system` is in the catalog
and whose metric the simulator predicts:
- `bus_bandwidth_gbs` (nccl-tests all_reduce busbw; the message size is not always stated, so
  1 GiB stands for 'large messages');
- `bottleneck_bandwidth_gbs` (DeepEP normal kernels: bytes over the limiting link -- NVLink
  inside one node, RDMA across nodes -- per rank / time);
- `latency_us` (DeepEP low-latency kernels: one copy per selected expert, sent directly).
Calibration comes only from the chip factors (podwright.estimate.calibration.chip_factors);
nothing is fitted per case. Records without a catalog system (V2 tables, H100 PCIe bridge) and
metrics not comparable with a flow model (`logical_bandwidth_gbs`, which includes local-rank
traffic) are skipped and listed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from podwright.errors import InputError
from podwright.estimate.validate import summarise
from podwright.sim.network.network import Network
from podwright.sim.network.simulate import simulate
from podwright.specs import catalog_names
from podwright.specs.catalog import read_yaml
from podwright.topology import build

LARGE = 2**30  # bytes: 'multi-GB messages' where a record gives no size

# records whose measurement is the source of a calibration factor used here (not independent)
CALIBRATION_SOURCES = {"coll-nccl-allreduce-h100x8-nvls", "coll-nccl-allreduce-h800x8"}


def _predict(net_cache: dict, system: str, m: dict) -> tuple[str, float] | None:
    op, n = m["op"], int(m["group_size"])
    node = 8
    chips = max(node, -(-n // node) * node)
    key = (system, chips)
    if key not in net_cache:
        net_cache[key] = Network.of(build(system, chips))
    net = net_cache[key]
    if op == "all_reduce" and "bus_bandwidth_gbs" in m:
        size = m.get("message_bytes") or (m.get("message_bytes_range") or [0, LARGE])[-1]
        r = simulate(net.fabric, "all_reduce", float(size), n, network=net)
        return "bus_bandwidth_gbs", r["busbw_gbs"]
    if op in ("ep_dispatch", "ep_combine"):
        tokens = int(m["tokens_per_rank"])
        moe = {"tokens": tokens, "topk": int(m.get("topk", 8))}
        if "bottleneck_bandwidth_gbs" in m:
            r = simulate(net.fabric, op, float(m["message_bytes"]), n, network=net, **moe)
            tier = 1 if m.get("bottleneck_link") == "rdma" else 0
            per_rank = _tier_bytes(net, r, tier) / n
            return "bottleneck_bandwidth_gbs", per_rank / (r["time_us"] * 1e-6) / 1e9
        if "latency_us" in m:
            r = simulate(net.fabric, op, float(m["message_bytes"]), n, network=net,
                         algorithm="direct", **moe)  # fmt: skip
            return "latency_us", r["time_us"]
    return None


def _tier_bytes(net: Network, r: dict, tier: int) -> float:
    """Bytes that entered the tier from chips (each byte counted once, at its first hop)."""
    ng = net.ng
    first = (ng.tier == tier) & (ng.kinds[ng.src] == 0)
    return float(r["_link_bytes"][first].sum())


def validate_collectives(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError("path", f"no file at '{path}'")
    data = read_yaml(path, "path") or {}
    systems = set(catalog_names("systems"))
    rows, skipped, cache = [], [], {}
    for rec in data.get("records") or []:
        if rec.get("kind") != "collective":
            continue
        rid = rec.get("id", "?")
        if rec.get("system") not in systems:
            skipped.append({"id": rid, "reason": "no catalog system"})
            continue
        for m in rec.get("measurements") or []:
            got = _predict(cache, rec["system"], m)
            if got is None:
                skipped.append({"id": rid, "reason": f"metric not simulated ({m.get('op')})"})
                continue
            metric, pred = got
            meas = float(m[metric])
            rows.append({
                "id": f"{rid}/{m['op']}/ep{m['group_size']}" if m["op"].startswith("ep")
                else f"{rid}/{m['op']}/{m['group_size']}",
                "metric": metric,
                "predicted": float(pred),
                "measured": meas,
                "error": float(pred) / meas - 1.0,
                "calibration_source": rid in CALIBRATION_SOURCES,
            })  # fmt: skip
    out = summarise(rows)
    indep = np.array([abs(r["error"]) for r in rows if not r["calibration_source"]])
    out["independent_median_abs_error"] = float(np.median(indep)) if len(indep) else None
    out["skipped"] = skipped
    return out
