"""How failures eat into goodput.

Failure rates per component category (catalog/reliability.yaml, each sourced) times the counts
the topology derives (accelerators, nodes, NICs, switch chips, optical modules, cables) give
the job's interruption rate; a job that checkpoints every tau seconds, taking C seconds to write
a checkpoint and R seconds to recover, loses C/tau of its time to checkpoints and, per
interruption, the work since the last checkpoint (tau/2 on average) plus R. Young's interval
tau = sqrt(2 C M) (J. W. Young, "A first order approximation to the optimum checkpoint
interval", CACM 17(9), 1974) minimises the loss; goodput = 1 - C/tau - (tau/2 + R)/M, M the
mean time between interruptions.
"""

from __future__ import annotations

import math
from functools import lru_cache

from podwright.errors import InputError
from podwright.specs.catalog import CATALOG, read_yaml
from podwright.topology import Fabric

CATEGORY_OF_ITEM = {
    "accelerator": "accelerator",
    "nic": "nic",
    "switch_chip": "switch_chip",
    "ocs": "switch_chip",
    "optical_module": "optical_module",
    "copper_cable": "copper_cable",
}


@lru_cache(maxsize=1)
def catalog() -> dict:
    path = CATALOG / "reliability.yaml"
    if not path.is_file():
        raise InputError("reliability", "the catalog has no reliability.yaml")
    return read_yaml(path, "reliability") or {}


def counts(fabric: Fabric) -> dict[str, float]:
    """Devices per failure category, from the bill of materials."""
    out: dict[str, float] = {"node": float(fabric.nodes)}
    for item in fabric.items:
        cat = CATEGORY_OF_ITEM.get(item.category)
        if cat:
            out[cat] = out.get(cat, 0.0) + item.count
    out["software"] = float(fabric.chips)  # software interruptions scale with accelerators
    return out


def failure_rates(fabric: Fabric, side: int = 0) -> dict:
    """Interruptions per hour by category and in total (side -1/+1: low/high rates)."""
    rates = catalog().get("failure_rates", {})
    by = {}
    for cat, n in counts(fabric).items():
        r = rates.get(cat)
        if not r or not n:
            continue
        per_hour = float(r["value"]) * (1 + side * float(r.get("uncertainty", 0.0))) / 1e6
        by[cat] = n * per_hour
    return {"by_category_per_hour": by, "per_hour": sum(by.values())}


def _default(key: str, field: str) -> float:
    item = catalog().get(key, {}).get(field)
    if not item:
        raise InputError("reliability", f"reliability.yaml has no {key}.{field}")
    return float(item["value"])


def goodput(
    fabric: Fabric,
    checkpoint_bytes: float,
    side: int = 0,
    write_gbps_per_node: float | None = None,
    recovery_s: float | None = None,
) -> dict:
    rates = failure_rates(fabric, side)
    lam = rates["per_hour"] / 3600.0  # per second
    if lam <= 0:
        return {"failures_per_day": 0.0, "goodput": 1.0}
    mtbf = 1.0 / lam
    bw = (write_gbps_per_node or _default("checkpoint", "write_gbps_per_node")) * 1e9 / 8
    c = checkpoint_bytes / (bw * fabric.nodes)
    r = recovery_s if recovery_s is not None else _default("restart", "recovery_minutes") * 60
    tau = math.sqrt(2 * c * mtbf)
    good = max(0.0, 1.0 - c / tau - (tau / 2 + r) / mtbf)
    return {
        "failures_per_day": rates["per_hour"] * 24,
        "mtbf_hours": mtbf / 3600,
        "by_category_per_day": {k: v * 24 for k, v in rates["by_category_per_hour"].items()},
        "checkpoint_gb": checkpoint_bytes / 1e9,
        "checkpoint_s": c,
        "checkpoint_interval_s": tau,
        "recovery_s": r,
        "goodput": good,
    }


def training_checkpoint_bytes(model) -> float:
    """bf16 weights + fp32 master weights and Adam moments of the whole model."""
    return model.params * (2 + 12)


def add_reliability(scenario, prediction: dict, fabric: Fabric) -> dict:
    """A training prediction with its `reliability` object (optional key): interruptions,
    Young's checkpoint interval, goodput and the tokens/s per chip that survive."""
    if "training" not in prediction:
        return prediction
    from podwright.workload.model import load_model

    ckpt = training_checkpoint_bytes(load_model(scenario.model))
    rel = goodput(fabric, ckpt)
    rel["effective_tokens_per_s_per_chip"] = (
        prediction["training"]["tokens_per_s_per_chip"] * rel["goodput"]
    )
    lo, hi = goodput(fabric, ckpt, side=+1)["goodput"], goodput(fabric, ckpt, side=-1)["goodput"]
    out = prediction | {"reliability": rel}
    out["band"] = dict(prediction.get("band", {})) | {"reliability.goodput": [lo, hi]}
    return out
