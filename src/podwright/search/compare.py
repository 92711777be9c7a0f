"""Cost-performance comparison of systems running one model. Serving: each system's best prefill
and decode layouts (within the SLO), combined into a balanced disaggregated deployment.
Training: each system's fastest layout on the same chips and global batch.

A request needs input_len / P chip-seconds of prefill and output_len / D chip-seconds of
decode (P, D: prefill and decode tokens/s per chip), so a deployment whose prefill and decode
pools are sized in that ratio delivers output_len / (input_len / P + output_len / D) output
tokens per chip-second."""

from __future__ import annotations

from podwright.economics.cost import usd_per_mtoken
from podwright.errors import InputError
from podwright.search.layouts import balanced, search
from podwright.specs import load_system
from podwright.specs.scenario import parse_scenario
from podwright.topology import build
from podwright.topology.summary import summary
from podwright.workload.model import load_model

KEYS = (
    "chips",
    "prefill_tokens_per_s_per_chip",
    "decode_tokens_per_s_per_chip",
    "output_tokens_per_s_per_chip",
    "output_tokens_per_s_per_system",
    "output_tokens_per_s_per_kw",
    "prefill_to_decode_chips",
    "tpot_ms",
    "usd_per_mtoken",
)
# column headings of the CLI table (one row per system), and the figures it gives as ratios
LABELS = {
    "chips": "chips",
    "prefill_tokens_per_s_per_chip": "prefill tok/s per chip",
    "decode_tokens_per_s_per_chip": "decode tok/s per chip",
    "output_tokens_per_s_per_chip": "output tok/s per chip",
    "output_tokens_per_s_per_system": "output tok/s per system",
    "output_tokens_per_s_per_kw": "output tok/s per kW",
    "prefill_to_decode_chips": "prefill / decode chips",
    "tpot_ms": "TPOT ms",
    "usd_per_mtoken": "$ per Mtoken",
}
RATIO_KEYS = ("output_tokens_per_s_per_chip", "output_tokens_per_s_per_kw", "usd_per_mtoken")


def serving_unit(system, weight_bytes: float) -> int:
    """One scale-up domain, or as many as it takes for the weights to fill at most half the
    HBM (the rest for KV cache)."""
    from podwright.specs import load_chip

    domain = system.scale_up.domain
    hbm = load_chip(system.chip).hbm_gb * 1e9
    k = 1
    while weight_bytes > 0.5 * hbm * domain * k and k < 1024:
        k *= 2
    return domain * k


def _best(
    system: str,
    chips: int,
    model: str,
    precision: str,
    phase: str,
    inp: int,
    out: int,
    tpot,
    utilization: float | None = None,
):
    body = {
        "name": f"{system}-{phase}",
        "system": system,
        "chips": chips,
        "model": model,
        "precision": precision,
        "inference": {
            "phase": phase,
            "input_len": inp,
            "output_len": out,
            "batch": "auto",
            "instance_chips": "auto",
            "parallel": {"tp": "auto", "pp": 1, "ep": "auto", "attn_dp": "auto"},
            "slo": {"tpot_ms": tpot} if (tpot and phase == "decode") else {},
        },
    } | _economics(utilization)
    res = search(parse_scenario(body), top=1)["results"]
    if not res:
        raise InputError("tpot_ms", f"no layout of {system} serves {model} within the SLO")
    best = res[0]
    lay = best["layout"]
    body["inference"] |= {"instance_chips": lay["instance_chips"], "parallel": lay["parallel"],
                          "batch": lay["batch"]}  # fmt: skip
    best["rate_band"] = _band(body, f"inference.{phase}_tokens_per_s_per_chip")
    return best


def _economics(utilization: float | None) -> dict:
    """The scenario's `economics` object for a stated utilization (none: the catalog default)."""
    if utilization is None:
        return {}
    if not 0 < utilization <= 1:
        raise InputError("utilization", f"must be in (0, 1] (got {utilization})")
    return {"economics": {"utilization": utilization}}


def _band(body: dict, key: str) -> list[float]:
    """[low, high] of `key` at the calibration factors' stated uncertainty, for the scenario
    `body` with its layout fixed (what `predict` reports as its band)."""
    from podwright.estimate.predict import predict

    return list(predict(parse_scenario(body))["band"][key])


def compare_serving(
    systems: list[str], model: str, input_len: int, output_len: int, tpot_ms: float | None,
    precision: str = "fp8", chips: int | None = None, utilization: float | None = None,
) -> dict:  # fmt: skip
    """`utilization`: average share of hours each deployment runs at its rate ($/Mtoken)."""
    _economics(utilization)
    if input_len <= 0 or output_len <= 0:
        raise InputError("input_len" if input_len <= 0 else "output_len", "must be positive")
    if tpot_ms is not None and tpot_ms <= 0:
        raise InputError("tpot_ms", f"must be positive (got {tpot_ms})")
    rows, skipped = {}, {}
    weights = load_model(model).params * {"fp4": 0.5, "fp8": 1, "int8": 1}.get(precision, 2)
    loaded = [load_system(name) for name in systems]  # an unknown name is bad input (exit 2)
    for name, system in zip(systems, loaded, strict=True):
        n = chips or serving_unit(system, weights)
        try:
            pre = _best(name, n, model, precision, "prefill", input_len, output_len, None,
                        utilization)  # fmt: skip
            dec = _best(name, n, model, precision, "decode", input_len, output_len, tpot_ms,
                        utilization)  # fmt: skip
        except InputError as err:
            # a system that cannot serve the model so (no rate at the precision, no layout
            # within the SLO) is a result of the comparison, not a reason to stop it
            skipped[system.name] = f"{err.field}: {err.reason}"
            continue
        P = pre["inference"]["prefill_tokens_per_s_per_chip"]
        D = dec["inference"]["decode_tokens_per_s_per_chip"]
        per_chip = balanced(P, D, input_len, output_len)["output_tokens_per_s_per_chip"]
        band = [  # both pools at the low (high) end of their bands
            balanced(p, d, input_len, output_len)["output_tokens_per_s_per_chip"]
            for p, d in zip(pre["rate_band"], dec["rate_band"], strict=True)
        ]
        fab = build(system, n)
        info = summary(fab)
        econ = dec["economics"]  # the n chips of the system
        rows[system.name] = {
            "chips": n,
            "prefill_tokens_per_s_per_chip": P,
            "decode_tokens_per_s_per_chip": D,
            "output_tokens_per_s_per_chip": per_chip,
            "output_tokens_per_s_per_system": per_chip * n,
            "output_tokens_per_s_per_kw": per_chip * n / info["power_kw"],
            "prefill_to_decode_chips": (input_len / P) / (output_len / D),
            "tpot_ms": dec["inference"]["tpot_ms"],
            "usd_per_mtoken": usd_per_mtoken(
                econ["usd_per_hour"], per_chip * n, econ["utilization"]
            ),
            "capex_complete": econ["capex_complete"],
            "unpriced_parts": econ["unpriced_parts"],
            "prefill_layout": pre["layout"],
            "decode_layout": dec["layout"],
            "band": {"output_tokens_per_s_per_chip": band},
        }
    head = {"model": model, "input_len": input_len, "output_len": output_len,
            "tpot_ms": tpot_ms, "precision": precision}  # fmt: skip
    return _with_ratios(head, rows, skipped, KEYS)


def _with_ratios(head: dict, rows: dict, skipped: dict, keys) -> dict:
    """The comparison's result: each system's figures, their ratios to the first system's, and
    the systems skipped with the reason (all skipped: exit 2 with the first reason). $/Mtoken
    resting on an incomplete capex is a lower bound, so no ratio is formed with it."""
    if not rows:
        field, reason = next(iter(skipped.values())).split(": ", 1)
        raise InputError(field, f"no system can run {head['model']}: {reason}")
    first = next(iter(rows.values()))

    def ratio_of(r, k):
        if k == "usd_per_mtoken" and not (r["capex_complete"] and first["capex_complete"]):
            return None
        return r[k] / first[k] if isinstance(r[k], float | int) and first[k] else None

    ratio = {name: {k: ratio_of(r, k) for k in keys} for name, r in rows.items()}
    return head | {"systems": rows, "ratio": ratio, "skipped": skipped}


TRAIN_KEYS = (
    "chips",
    "tokens_per_s_per_chip",
    "goodput",
    "effective_tokens_per_s_per_chip",
    "mfu",
    "step_time_s",
    "memory_gb_per_chip",
    "tokens_per_s_per_system",
    "tokens_per_s_per_kw",
    "usd_per_mtoken",
)
TRAIN_LABELS = {
    "chips": "chips",
    "tokens_per_s_per_chip": "tok/s per chip",
    "goodput": "goodput",
    "effective_tokens_per_s_per_chip": "after failures tok/s per chip",
    "mfu": "MFU",
    "step_time_s": "step s",
    "memory_gb_per_chip": "GB per chip",
    "tokens_per_s_per_system": "tok/s per system",
    "tokens_per_s_per_kw": "tok/s per kW",
    "usd_per_mtoken": "$ per Mtoken",
}
TRAIN_RATIO_KEYS = ("effective_tokens_per_s_per_chip", "tokens_per_s_per_kw", "usd_per_mtoken")


def compare_training(
    systems: list[str], model: str, chips: int, seq_len: int, global_batch: int | None,
    precision: str = "bf16", utilization: float | None = None,
) -> dict:  # fmt: skip
    """Each system's fastest training layout of `model` on the same number of chips (every
    parallel key, micro-batch, ZeRO stage, recompute and schedule searched), with tokens/s per
    chip, per system and per kW, MFU and $/Mtoken of training tokens, and the goodput left after
    failures and checkpoint/restart (`podwright.reliability`) with the tokens/s per chip that
    survive it. The global batch is the same on every system: `global_batch` sequences, by
    default 4M tokens' worth. `utilization`: average share of hours at that rate ($/Mtoken)."""
    from podwright.reliability.goodput import goodput, training_checkpoint_bytes

    econ_body = _economics(utilization)
    ckpt = training_checkpoint_bytes(load_model(model))
    if seq_len <= 0:
        raise InputError("seq_len", f"must be positive (got {seq_len})")
    if global_batch is not None and global_batch <= 0:
        raise InputError("global_batch", f"must be positive (got {global_batch})")
    gbs = global_batch or max(1, 4 * 1024 * 1024 // seq_len)
    loaded = [load_system(name) for name in systems]
    rows, skipped = {}, {}
    for name, system in zip(systems, loaded, strict=True):
        body = {
            "name": f"{system.name}-train", "system": name, "chips": chips, "model": model,
            "precision": precision,
            "training": {"seq_len": seq_len, "global_batch": gbs, "micro_batch": "auto",
                         "parallel": {"tp": "auto", "pp": "auto", "cp": "auto", "ep": "auto",
                                      "etp": 1, "vpp": "auto"},
                         "zero": "auto", "recompute": "auto", "schedule": "auto"},
        } | econ_body  # fmt: skip
        try:
            res = search(parse_scenario(body), top=1)["results"]
            if not res:
                raise InputError("chips", f"no layout of {model} fits {chips} chips of {name}")
        except InputError as err:
            skipped[system.name] = f"{err.field}: {err.reason}"
            continue
        best, fab = res[0], build(system, chips)
        tr, econ = best["training"], best["economics"]
        per_chip = tr["tokens_per_s_per_chip"]
        good = goodput(fab, ckpt)["goodput"]
        lay = best["layout"]
        body["training"] |= {
            "parallel": lay["parallel"], "micro_batch": lay["micro_batch"], "zero": lay["zero"],
            "recompute": lay["recompute"], "schedule": lay["schedule"],
            "sequence_parallel": lay["sequence_parallel"],
        } | ({"recompute_layers": lay["recompute_layers"]} if "recompute_layers" in lay else {})  # fmt: skip
        band = _band(body, "training.tokens_per_s_per_chip")
        rows[system.name] = {
            "chips": chips,
            "tokens_per_s_per_chip": per_chip,
            "goodput": good,
            "effective_tokens_per_s_per_chip": per_chip * good,
            "mfu": tr["mfu"],
            "step_time_s": tr["step_time_s"],
            "memory_gb_per_chip": tr["memory_gb_per_chip"],
            "tokens_per_s_per_system": per_chip * chips,
            "tokens_per_s_per_kw": per_chip * chips / summary(fab)["power_kw"],
            "usd_per_mtoken": econ["usd_per_mtoken"],
            "capex_complete": econ["capex_complete"],
            "unpriced_parts": econ["unpriced_parts"],
            "layout": lay,
            "band": {"tokens_per_s_per_chip": band},
        }
    head = {"model": model, "chips": chips, "seq_len": seq_len, "global_batch": gbs,
            "precision": precision}  # fmt: skip
    return _with_ratios(head, rows, skipped, TRAIN_KEYS)
