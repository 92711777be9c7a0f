"""Layout search: every `auto` key of a scenario over its valid values, evaluated as numpy
arrays in one call, filtered by memory (and SLO), ranked by an objective; Pareto fronts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from podwright.economics.cost import scenario_cost, usd_per_mtoken
from podwright.errors import InputError
from podwright.estimate.inference import (
    InferenceModel,
    _metrics,
    enumerate_inference,
    meets_slo,
    price_candidates,
)
from podwright.estimate.predict import fabric_for, train_candidates, training_prediction
from podwright.estimate.training import evaluate_scenario
from podwright.specs.scenario import Scenario
from podwright.workload.model import load_model

OBJECTIVES = ("tokens_per_s_per_chip", "cost_per_mtoken", "step_time")


def pareto(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated when maximising x and minimising y."""
    order = np.lexsort((y, -x))  # by x descending, then y ascending
    front, best_y = [], np.inf
    for i in order:
        if y[i] < best_y:
            front.append(i)
            best_y = y[i]
    return np.array(front, dtype=np.int64)


def balanced(prefill_tps: float, decode_tps: float, input_len: int, output_len: int) -> dict:
    """Disaggregated serving with prefill and decode pools sized to each other: a request
    costs input/P + output/D chip-seconds (P, D: prompt and output tokens/s per chip)."""
    per_chip = output_len / (input_len / prefill_tps + output_len / decode_tps)
    return {
        "output_tokens_per_s_per_chip": per_chip,
        "prefill_to_decode_chips": (input_len / prefill_tps) / (output_len / decode_tps),
    }


def search(scenario: Scenario, top: int = 5, objective: str = "tokens_per_s_per_chip") -> dict:
    if objective not in OBJECTIVES:
        raise InputError("objective", f"must be one of {', '.join(OBJECTIVES)}")
    if top < 1:
        raise InputError("top", "must be at least 1")
    model = load_model(scenario.model)
    fabric = fabric_for(scenario)
    if scenario.training is not None:
        return _search_training(scenario, model, fabric, top, objective)
    return _search_inference(scenario, model, fabric, top, objective)


def _search_training(scenario, model, fabric, top, objective) -> dict:
    layouts, rejected = train_candidates(scenario, model, fabric)
    res = evaluate_scenario(scenario, model, fabric, layouts)
    rejected = Counter(rejected)
    oom = int((~res.fits).sum())
    if oom:
        rejected["out of memory"] += oom
    idx = np.nonzero(res.fits)[0]
    if objective == "step_time":
        order = idx[np.argsort(res.step_time_s[idx], kind="stable")]
    else:  # on one system, $/Mtoken ranks as tokens/s per chip does
        order = idx[np.argsort(-res.tokens_per_s_per_chip[idx], kind="stable")]
    results = []
    for i in order[:top]:
        p = training_prediction(scenario, fabric, res, int(i))
        p["economics"] = scenario_cost(scenario, fabric, p["training"]["tokens_per_s_per_chip"])
        results.append(p)
    return {
        "evaluated": int(len(layouts)),
        "results": results,
        "rejected": dict(rejected.most_common()),
        "pareto": [],
    }


def _search_inference(scenario, model, fabric, top, objective) -> dict:
    inf = scenario.inference
    lay, rejected = enumerate_inference(inf, model, scenario.chips)
    m, r = price_candidates(scenario, model, fabric, lay)
    latency = (r["ttft_s"] if inf.phase == "prefill" else r["tpot_s"]) * 1e3
    fits = m.fits(r["memory"])
    rejected = Counter(rejected)
    rejected["out of memory"] += int((~fits).sum())
    slo_bad = fits & ~meets_slo(m, r)
    rejected["misses the SLO"] += int(slo_bad.sum())
    ok = fits & ~slo_bad
    tps = r["tokens_per_s_per_chip"]
    idx = np.nonzero(ok)[0]
    order = idx[np.argsort(-tps[idx], kind="stable")]
    results = []
    for i in order[:top]:
        one = lay.take([int(i)])
        body = _metrics(m, one, inf.phase)
        tok = body.get("decode_tokens_per_s_per_chip") or body.get("prefill_tokens_per_s_per_chip")
        results.append(
            {
                "scenario": scenario.name,
                "fits": True,
                "inference": body,
                "layout": one.row(0),
                "economics": scenario_cost(scenario, fabric, tok),
            }
        )
    front = []
    if len(idx):
        cost = scenario_cost(scenario, fabric, 1.0)
        for j in idx[pareto(tps[idx], latency[idx])]:
            front.append(
                {
                    "layout": lay.row(int(j)),
                    "tokens_per_s_per_chip": float(tps[j]),
                    "latency_ms": float(latency[j]),
                    "usd_per_mtoken": usd_per_mtoken(
                        cost["usd_per_hour"], float(tps[j]) * scenario.chips, cost["utilization"]
                    ),
                }
            )
    rejected = {k: v for k, v in rejected.most_common() if v}
    out = {"evaluated": int(len(lay)), "results": results, "rejected": rejected, "pareto": front}
    if inf.phase == "serve":
        out["disaggregated"] = _split(m, lay, inf)
    return out


def _split(m: InferenceModel, lay, inf) -> dict | None:
    """The prefill/decode split: the best prefill and decode layouts, each within its SLO, as
    pools of a balanced disaggregated deployment."""
    pre, dec = m.prefill(lay), m.decode(lay)
    ok_p = m.fits(pre["memory"]) & (pre["ttft_s"] * 1e3 <= (inf.slo.ttft_ms or np.inf))
    ok_d = m.fits(dec["memory"]) & (dec["tpot_s"] * 1e3 <= (inf.slo.tpot_ms or np.inf))
    if not (ok_p.any() and ok_d.any()):
        return None
    i = int(np.argmax(np.where(ok_p, pre["tokens_per_s_per_chip"], -np.inf)))
    j = int(np.argmax(np.where(ok_d, dec["tokens_per_s_per_chip"], -np.inf)))
    P, D = float(pre["tokens_per_s_per_chip"][i]), float(dec["tokens_per_s_per_chip"][j])
    return {
        "prefill_layout": lay.row(i),
        "decode_layout": lay.row(j),
        "prefill_tokens_per_s_per_chip": P,
        "decode_tokens_per_s_per_chip": D,
        **balanced(P, D, inf.input_len, inf.output_len),
    }
