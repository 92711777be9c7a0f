"""Scenario -> prediction object (SCENARIO.md section 2)."""

from __future__ import annotations

import numpy as np

from podwright.errors import InputError
from podwright.estimate.training import TrainingResult, evaluate_scenario
from podwright.specs import load_system
from podwright.specs.scenario import Scenario
from podwright.topology import build
from podwright.workload.layout import REASON_FIELD, enumerate_layouts
from podwright.workload.model import load_model

BAND_KEYS = ("step_time_s", "tokens_per_s_per_chip", "mfu", "tflops_per_chip")


def fabric_for(scenario: Scenario):
    """The system built for the scenario's chips; a job on part of a node (1, 2 or 4 GPUs of
    an 8-GPU server) is placed on whole nodes."""
    system = load_system(scenario.system)
    chips = scenario.chips
    per_node = system.node.chips
    if chips % per_node and chips < system.scale_up.domain:
        chips = -(-chips // per_node) * per_node
    try:
        return build(system, chips)
    except InputError as e:
        raise InputError("chips" if e.field == "chips" else e.field, e.reason) from None


def best_index(res: TrainingResult) -> int:
    score = np.where(res.fits, res.tokens_per_s_per_chip, -1.0 / np.maximum(res.memory_bytes, 1))
    return int(np.argmax(score))


def train_candidates(scenario: Scenario, model, fabric):
    tr = scenario.training
    layouts, rejected = enumerate_layouts(tr, model, scenario.chips)
    if not len(layouts):
        reason, _ = rejected.most_common(1)[0]
        raise InputError(REASON_FIELD.get(reason, "training.parallel"), reason)
    return layouts, rejected


def predict_training(scenario: Scenario, explain: bool = False, network=None) -> dict:
    model = load_model(scenario.model)
    fabric = fabric_for(scenario)
    layouts, rejected = train_candidates(scenario, model, fabric)
    res = evaluate_scenario(scenario, model, fabric, layouts)
    i = best_index(res)
    if explain or network is not None:
        # the chosen layout again, with the per-class detail and the requested network model
        res = evaluate_scenario(
            scenario, model, fabric, layouts.take([i]), detail=True, network=network
        )
        layouts, i = res.layouts, 0
    one = layouts.take([i])
    lo = evaluate_scenario(scenario, model, fabric, one, side=-1, network=network)
    hi = evaluate_scenario(scenario, model, fabric, one, side=+1, network=network)
    out = training_prediction(scenario, fabric, res, i)
    band = {}
    for key in BAND_KEYS:
        a, b = float(getattr(lo, key)[0]), float(getattr(hi, key)[0])
        band[f"training.{key}"] = [min(a, b), max(a, b)]
    out["band"] = band
    if explain:
        out["explain"] = explain_training(res, i, model, fabric, layouts, scenario, network)
    if network is not None:
        out["network"] = "sim"
    return out


def training_prediction(scenario: Scenario, fabric, res: TrainingResult, i: int) -> dict:
    """The prediction object (SCENARIO.md section 2) of layout i of a vectorised result."""
    out: dict = {"scenario": scenario.name, "fits": bool(res.fits[i])}
    if not res.fits[i]:
        need = res.memory_bytes[i] / 1e9
        out["reason"] = (
            f"needs {need:.1f} GB per chip on the most loaded stage; "
            f"{fabric.chip.name} has {fabric.chip.hbm_gb:g} GB"
        )
    out["training"] = {
        "step_time_s": float(res.step_time_s[i]),
        "tokens_per_s_per_chip": float(res.tokens_per_s_per_chip[i]),
        "mfu": float(res.mfu[i]),
        "hfu": float(res.hfu[i]),
        "tflops_per_chip": float(res.tflops_per_chip[i]),
        "memory_gb_per_chip": float(res.memory_bytes[i] / 1e9),
        "breakdown_s": {k: float(v[i]) for k, v in res.breakdown.items()},
        "memory_gb": {k: float(v[i] / 1e9) for k, v in res.memory.items()},
    }
    out["layout"] = res.layouts.row(i)
    return out


def explain_training(res, i, model, fabric, layouts, scenario, network=None) -> dict:
    from podwright.estimate.network import NetworkModel
    from podwright.workload.training import dp_comms, training_work

    one = layouts.take([i])
    net = NetworkModel.of(fabric).with_nccl_ramp()
    sim = network(fabric, 0) if network is not None else None
    order = scenario.training.placement
    work = training_work(
        model,
        one,
        scenario.training.seq_len,
        scenario.precision,
        order,
        scenario.training.attention,
        scenario.training.expert_imbalance,
    )
    comms = []
    seen = set()
    for c in work.comms + dp_comms(model, one, order=order):
        if not float(c.count[0]) or float(c.group[0]) <= 1:
            continue
        key = (c.name, c.kind, c.phase)
        if key in seen:
            continue
        seen.add(key)
        t, share = net.time(c.kind, c.nbytes, c.group, c.stride)
        row = {}
        if sim is not None:
            row["seconds_each_sim"] = float(sim.time(c.kind, c.nbytes, c.group, c.stride)[0][0])
        comms.append(
            row
            | {
                "name": c.name,
                "kind": c.kind,
                "phase": c.phase,
                "group": int(c.group[0]),
                "stride": int(c.stride[0]),
                "fabric": net.level_name(c.group, c.stride)[0],
                "bytes": float(c.nbytes[0]),
                "seconds_each": float(t[0]),
                "scale_out_share": float(share[0]),
            }
        )
    d = res.detail
    return {
        "system": fabric.system.name,
        "chips": fabric.chips,
        "scale_up_domain": fabric.scale_up.group if fabric.scale_up else 1,
        "microbatches": float(d["microbatches"][i]),
        "time_by_class_s": {
            **{f"gemm_{k}": float(v[i]) for k, v in d["gemm_s"].items()},
            "attention": float(d["attention_s"][i]),
            "elementwise": float(d["elementwise_s"][i]),
            "recompute": float(d["recompute_s"][i]),
        },
        "comm_total_s": {k: float(v[i]) for k, v in d["comm_total_s"].items()},
        "comm_exposed_s": {k: float(v[i]) for k, v in d["comm_exposed_s"].items()},
        "collectives": comms,
    }


def predict(scenario: Scenario, explain: bool = False, network=None) -> dict:
    """`network`: None for the analytical collective model, or a factory (fabric, side) ->
    network model, e.g. podwright.sim.network.estimator.sim_network."""
    from podwright.estimate.interval import interval

    if scenario.training is not None:
        out = predict_training(scenario, explain, network)
        kind = "training"
    else:
        from podwright.estimate.inference import predict_inference

        out = predict_inference(scenario, explain, network)
        kind = "inference"
    if out.get("band"):
        out["interval"] = interval(out["band"], kind)
    return out
