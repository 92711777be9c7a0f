"""Inference: prefill and decode steps, batch and SLO, MTP, serving with or without
disaggregation, for arrays of (layout, batch) candidates."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from podwright.errors import InputError
from podwright.estimate.batching import imbalance_prompts
from podwright.estimate.compute import ComputeModel
from podwright.estimate.network import NetworkModel
from podwright.specs.catalog import CATALOG, read_yaml
from podwright.workload.inference import (
    DTYPE_BYTES,
    InferLayouts,
    kv_bytes_per_token,
    kv_bytes_per_token_per_chip,
    step_work,
    weights_per_chip,
)
from podwright.workload.layout import divisors
from podwright.workload.model import ModelSpec


def engine_policy(inf, precision: str) -> dict:
    """The serving engine's memory policy: the scenario's fields over its engine preset
    (catalog/engines.yaml; `generic` when none is named)."""
    presets = read_yaml(CATALOG / "engines.yaml", "inference.engine")["engines"]
    name = inf.engine or "generic"
    if name not in presets:
        raise InputError("inference.engine", f"unknown engine {name!r}; one of {sorted(presets)}")
    p = presets[name]
    if inf.kv_cache_dtype:
        kv = inf.kv_cache_dtype
    elif p["kv_cache_dtype"] == "checkpoint" and precision in ("fp8", "fp4"):
        kv = "fp8"
    else:
        kv = "bf16"  # the activations' 16-bit type (engines' "auto" on plain checkpoints)
    return {
        "kv_cache_dtype": kv,
        "memory_fraction": inf.memory_fraction or float(p["memory_fraction"]),
        "kv_reservation": inf.kv_reservation or p["kv_reservation"],
        "memory_budget": p["memory_budget"],
    }


BATCH_GRID = np.unique(np.round(2 ** np.arange(0, 17.01, 0.25)).astype(np.int64))


def enumerate_inference(inf, model: ModelSpec, chips: int) -> tuple[InferLayouts, Counter]:
    par = inf.parallel
    fixed = [v for v in (par.tp, par.pp, par.attn_dp) if v != "auto"]
    if inf.instance_chips not in (None, "auto"):
        ns = [int(inf.instance_chips)]
    elif len(fixed) == 3:
        ns = [int(par.tp) * int(par.pp) * int(par.attn_dp)]
    else:
        ns = [d for d in divisors(chips) if d <= 1024]
    rejected: Counter = Counter()
    rows = []
    for n in ns:
        if chips % n:
            rejected["instance_chips does not divide the chips"] += 1
            continue
        tps = [int(par.tp)] if par.tp != "auto" else [d for d in divisors(n) if d <= 64]
        pps = [int(par.pp)] if par.pp != "auto" else [d for d in divisors(n) if d <= 16]
        eps = [int(par.ep)] if par.ep != "auto" else (divisors(n) if model.moe else [1])
        for tp, pp, ep in itertools.product(tps, pps, eps):
            if n % (tp * pp):
                rejected["tp x pp does not divide the instance"] += 1
                continue
            dp = n // (tp * pp)
            if par.attn_dp != "auto" and int(par.attn_dp) != dp:
                rejected["tp x pp x attn_dp differs from the instance"] += 1
                continue
            if model.heads % tp or (model.kv_heads % tp and tp % model.kv_heads):
                rejected["TP does not divide the attention heads"] += 1
                continue
            if model.moe and (n // pp) % ep:
                rejected["EP does not divide the chips of a stage"] += 1
                continue
            if not model.moe and ep != 1:
                rejected["EP needs an MoE model"] += 1
                continue
            rows.append((n, tp, pp, dp, ep))
    if not rows:
        reason = rejected.most_common(1)[0][0] if rejected else "no layout"
        raise InputError("inference.parallel", reason)
    base = np.array(rows, dtype=np.int64)
    batches = BATCH_GRID if inf.batch == "auto" else np.array([int(inf.batch)])
    grid = np.repeat(base, len(batches), axis=0)
    b = np.tile(batches, len(base))
    lay = InferLayouts(
        n=grid[:, 0], tp=grid[:, 1], pp=grid[:, 2], dp=grid[:, 3], ep=grid[:, 4], batch=b
    )
    # a batch below one sequence per attention rank leaves ranks idle
    keep = lay.batch >= lay.dp
    rejected["batch smaller than attention-DP ranks"] += int((~keep).sum())
    if not keep.any():
        raise InputError("inference.batch", "smaller than the attention data-parallel ranks")
    return lay.take(np.nonzero(keep)[0]), rejected


class InferenceModel:
    """Prices steps of one scenario on its fabric."""

    def __init__(
        self, scenario, model: ModelSpec, fabric, side: int = 0, network=None, offload=False
    ):
        self.s = scenario
        self.offload = bool(offload and fabric.chip.host_bw)
        self.inf = scenario.inference
        self.model = model
        self.fabric = fabric
        self.chip = fabric.chip
        self.prec = scenario.precision
        self.eprec = scenario.precision_experts or self.prec
        self.policy = engine_policy(self.inf, self.prec)
        self.kv_dtype = self.policy["kv_cache_dtype"]
        fp8_attn = self.inf.attention_precision == "fp8"
        if fp8_attn and self.kv_dtype != "fp8":
            raise InputError(
                "inference.attention_precision",
                "fp8 attention reads an FP8 KV cache; set inference.kv_cache_dtype: fp8",
            )
        if fp8_attn and not self.chip.has("fp8"):
            raise InputError("inference.attention_precision", f"{self.chip.name} has no FP8 rate")
        self.comp = ComputeModel.of(self.chip, self.prec, side, attention_fp8=fp8_attn)
        self.comp_e = ComputeModel.of(self.chip, self.eprec, side)
        self.net = (network or NetworkModel.of)(fabric, side)

    def step(self, lay: InferLayouts, phase: str, new_tokens, context) -> dict[str, np.ndarray]:
        w = step_work(
            self.model, lay, phase, new_tokens, context, self.kv_dtype,
            self.inf.expert_imbalance, self.prec, self.chip.dies,
        )  # fmt: skip
        parts = {"weights_gemm": 0.0, "expert_gemm": 0.0}
        experts = [g for g in w.gemms if g.cls == "expert"]
        others = [g for g in w.gemms if g.cls != "expert"]
        parts["expert_gemm"] = sum(self.comp_e.gemms(experts), 0.0)
        parts["weights_gemm"] = sum(self.comp.gemms(others), 0.0)
        if phase == "decode":
            parts["attention_kv"] = self.comp.decode_attention(
                w.attn_flops, w.attn_bytes, w.attn_kernels
            )
        else:
            parts["attention_kv"] = self.comp.attention(
                w.attn_flops, w.attn_bytes, w.attn_kernels, w.attn_seq
            )
        parts["elementwise"] = self.comp.memory(w.elem_bytes, w.elem_kernels)
        compute = sum(parts.values())
        comm = {"tp": 0.0, "ep": 0.0, "pp": 0.0}
        for c in w.comms:
            t, _ = self.net.time(c.kind, c.nbytes, c.group, c.stride)
            comm[c.overlap] = comm[c.overlap] + t * c.count
        # Prefill: two-micro-batch overlap (DeepSeek, SGLang) hides the EP all-to-all of one half
        # of the batch under the other half's compute. Decode: the per-layer compute is short and
        # the low-latency all-to-all is latency-bound, so it is counted as exposed.
        if phase == "prefill":
            two = lay.batch / lay.dp >= 2
            ep_exposed = np.where(two, self.comp_e.exposed_under(compute, comm["ep"]), comm["ep"])
        else:
            ep_exposed = comm["ep"]
        stage = compute + comm["tp"] + ep_exposed + comm["pp"]
        out = {k: np.broadcast_to(v, stage.shape) for k, v in parts.items()}
        out["dispatch_combine"] = np.broadcast_to(ep_exposed, stage.shape)
        out["other_comm"] = np.broadcast_to(comm["tp"] + comm["pp"], stage.shape)
        out["stage"] = stage
        out["total"] = stage * lay.pp
        return out

    def memory(self, lay: InferLayouts, ctx_max: float, new_tokens: float) -> dict[str, np.ndarray]:
        wb = DTYPE_BYTES[self.prec]
        eb = DTYPE_BYTES[self.eprec]
        dense, expert = weights_per_chip(self.model, lay, wb, eb, self.chip.dies)
        kv = (lay.batch / lay.dp) * kv_bytes_per_token_per_chip(
            self.model, lay, ctx_max, self.kv_dtype
        )
        tokens = lay.batch / lay.dp * new_tokens
        scratch = 2.0 * tokens * (4 * self.model.hidden + 2 * self.model.ffn / lay.tp)
        mem = {"weights": dense + expert, "kv_cache": kv, "activations": scratch}
        off = self.offloaded(mem)
        return mem | {"weights": mem["weights"] - off, "offloaded": off}

    def offloaded(self, mem: dict) -> np.ndarray:
        """Weight bytes per chip kept in host memory (vLLM and SGLang --cpu-offload-gb) and
        streamed back over the chip's host link every forward pass, in a model built with
        offload=True (price_candidates does so where no candidate fits in HBM): only where the
        weights alone exceed what the engine may use, and then what the KV cache and activations
        overflow. The KV cache and activations never move, so a batch they overflow on their own
        still does not fit."""
        if not self.offload:
            return np.zeros_like(mem["weights"])
        hbm = self.chip.hbm_gb * 1e9
        f = self.policy["memory_fraction"]
        if self.policy["memory_budget"] == "free":
            budget = hbm
            over = mem["weights"] + mem["activations"] + mem["kv_cache"] / f - hbm
        else:
            budget = f * hbm
            over = hbm_bytes(mem) - budget
        return np.where(mem["weights"] > budget, np.clip(over, 0.0, mem["weights"]), 0.0)

    def _with_offload(self, lay: InferLayouts, st: dict, mem: dict) -> np.ndarray:
        """The pass time once offloaded weights stream in: prefetched under each pipeline
        stage's compute, they add only what the stream takes beyond it."""
        if not self.offload:
            return st["total"]
        stream = mem["offloaded"] / (self.chip.host_bw * 1e9)
        return st["total"] + lay.pp * np.maximum(0.0, stream - st["stage"])

    def mtp_tokens(self) -> tuple[int, float]:
        """(draft tokens proposed per step, expected tokens per step). accept_rate is accepted /
        proposed draft tokens, so a step yields 1 + tokens x accept_rate tokens."""
        mtp = self.inf.mtp
        if not mtp:
            return 0, 1.0
        return mtp.tokens, 1.0 + mtp.tokens * mtp.accept_rate

    def decode(self, lay: InferLayouts, ctx=None) -> dict[str, np.ndarray]:
        """One decode step of each candidate; `ctx` (tokens per sequence, default the average
        over a request's decode: input + output / 2) sets the KV cache the step reads."""
        inf = self.inf
        drafts, per_step = self.mtp_tokens()
        ctx = inf.input_len + inf.output_len / 2.0 if ctx is None else ctx
        st = self.step(lay, "decode", 1.0 + drafts, ctx)
        # paged KV cache under continuous batching: sequences are spread over their decode, so
        # the batch holds on average input + output/2 tokens per sequence (unless the engine
        # reserves whole sequences)
        held = inf.input_len + inf.output_len if self.policy["kv_reservation"] == "full" else ctx
        mem = self.memory(lay, held, 1.0 + drafts)
        # one MTP module (about one layer) runs per draft token
        step = self._with_offload(lay, st, mem) * (1 + drafts / self.model.layers)
        tpot = step / per_step
        return {
            "tpot_s": tpot,
            "tokens_per_s_per_chip": lay.batch * per_step / step / lay.n,
            "memory": mem,
            "parts": st,
        }

    def prefill(self, lay: InferLayouts) -> dict[str, np.ndarray]:
        inf = self.inf
        cached = inf.input_len * inf.cache_hit
        new = inf.input_len - cached
        st = self.step(lay, "prefill", new, cached)
        mem = self.memory(lay, inf.input_len, new)
        ttft = self._with_offload(lay, st, mem)
        return {
            "ttft_s": ttft,
            # prompt tokens including prefix-cache hits, as DeepSeek reports its prefill rate
            "tokens_per_s_per_chip": lay.batch * inf.input_len / ttft / lay.n,
            "memory": mem,
            "parts": st,
        }

    def fits(self, mem: dict) -> np.ndarray:
        hbm = self.chip.hbm_gb * 1e9
        f = self.policy["memory_fraction"]
        if self.policy["memory_budget"] == "free":  # KV gets f of what the rest leaves
            return mem["weights"] + mem["activations"] + mem["kv_cache"] / f <= hbm
        return hbm_bytes(mem) <= f * hbm


def hbm_bytes(mem: dict) -> np.ndarray:
    """Bytes per chip in HBM (weights kept in host memory excluded)."""
    return mem["weights"] + mem["kv_cache"] + mem["activations"]


# with weights offloaded, a candidate within this share of the best rate counts as a tie, won
# by the smaller batch
RATE_TIE = 0.01


def _choose(score, ok, batch, offload=False) -> int:
    """The best-rate candidate (in practice the largest batch that fits and meets the SLO). With
    weights in host memory every extra sequence pushes more of them out, so there the smallest
    batch within RATE_TIE of the best rate wins once the rate has flattened out."""
    if not ok.any():
        return -1
    if not offload:
        return int(np.argmax(np.where(ok, score, -np.inf)))
    near = ok & (score >= (1.0 - RATE_TIE) * np.max(score[ok]))
    return int(np.argmin(np.where(near, batch, np.inf)))


def _serve(m: InferenceModel, lay: InferLayouts) -> dict[str, np.ndarray]:
    """Prefill and decode sharing an instance (chunked prefill): every request's prompt is
    processed between decode steps, so the instance's output rate is
    B*O / (O*TPOT(B) + B*t_prefill), with t_prefill the prompt time per request at the
    instance's best prefill batch. With attention data parallelism each iteration also waits
    for its busiest rank's prompts (estimate/batching.py) unless `adp_balance` is stated."""
    inf = m.inf
    dec = m.decode(lay)
    pre = m.prefill(lay)
    # prefill cost per request at this layout's most efficient prefill batch
    per_req = pre["ttft_s"] / lay.batch
    keys = np.stack([lay.n, lay.tp, lay.pp, lay.dp, lay.ep], axis=1)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    ok = m.fits(pre["memory"])
    best = np.full(inv.max() + 1, np.inf)
    np.minimum.at(best, inv[ok], per_req[ok])
    t_req = np.where(np.isfinite(best[inv]), best[inv], per_req)
    out_len = float(inf.output_len)
    # the effective TPOT split: decode step, prompts interleaved, attention-DP wait
    split = {"decode": dec["tpot_s"], "prefill": lay.batch * t_req / out_len}
    split["attention_dp_wait"] = np.zeros_like(split["prefill"])
    if not inf.adp_balance:
        parts = pre["parts"]
        local = 1.0 - parts["expert_gemm"] / np.maximum(parts["stage"], 1e-30)
        wait = imbalance_prompts(lay.batch / lay.dp / out_len, lay.dp)
        split["attention_dp_wait"] = wait * t_req * lay.dp * local
    cycle = out_len * sum(split.values())
    rate = lay.batch * out_len / cycle  # output tokens/s per instance
    return {
        "tokens_per_s_per_chip": rate / lay.n,
        "tpot_s": cycle / out_len,  # effective, prompts interleaved
        "ttft_s": t_req + dec["tpot_s"],
        "prefill_tokens_per_s_per_chip": inf.input_len / t_req / lay.n,
        "memory": dec["memory"],
        "parts": dec["parts"],
        "split": split,
    }


def _phase_result(m: InferenceModel, lay: InferLayouts) -> dict:
    if m.inf.phase == "decode":
        return m.decode(lay)
    if m.inf.phase == "prefill":
        return m.prefill(lay)
    return _serve(m, lay)


def price_candidates(
    scenario, model, fabric, lay: InferLayouts, side: int = 0
) -> tuple[InferenceModel, dict]:
    """The model that prices the scenario and every candidate's result for its phase: weights
    in HBM where any candidate fits there, else with the excess kept in host memory. `side`:
    the calibration factors at their low (-1) or high (+1) end."""
    m = InferenceModel(scenario, model, fabric, side)
    r = _phase_result(m, lay)
    if not m.fits(r["memory"]).any() and fabric.chip.host_bw:
        m = InferenceModel(scenario, model, fabric, side, offload=True)
        r = _phase_result(m, lay)
    return m, r


def slo_terms(m: InferenceModel, r: dict) -> dict[str, tuple[np.ndarray, float]]:
    """The SLO terms that apply to the phase: name -> (each candidate's value in ms, target)."""
    phase, slo = m.inf.phase, m.inf.slo
    terms = {}
    if phase != "prefill" and slo.tpot_ms:
        terms["TPOT"] = (r["tpot_s"] * 1e3, slo.tpot_ms)
    if phase != "decode" and slo.ttft_ms:
        terms["TTFT"] = (r["ttft_s"] * 1e3, slo.ttft_ms)
    return terms


def meets_slo(m: InferenceModel, r: dict) -> np.ndarray:
    """Candidates whose TPOT (decode, serve) and TTFT (prefill, serve) meet the SLO."""
    ok = np.ones_like(r["tokens_per_s_per_chip"], dtype=bool)
    for value, target in slo_terms(m, r).values():
        ok &= value <= target
    return ok


def nearest_to_slo(m: InferenceModel, r: dict, fit: np.ndarray) -> tuple[int, str]:
    """When no candidate meets the SLO: the fitting one that misses it by the least (its worst
    term relative to the target), and what it reaches."""
    terms = slo_terms(m, r)
    miss = np.max([value / target for value, target in terms.values()], axis=0)
    i = int(np.argmin(np.where(fit, miss, np.inf)))
    reached = ", ".join(f"{k} {v[i]:.3g} ms (SLO {t:g} ms)" for k, (v, t) in terms.items())
    return i, f"no layout and batch meets the SLO; the nearest reaches {reached}"


def predict_inference(scenario, explain: bool = False, network=None) -> dict:
    """Chooses the layout and batch with the analytical network model; `network` (a factory
    fabric, side -> network model) then prices the chosen one, e.g. the flow simulator."""
    from podwright.estimate.predict import fabric_for
    from podwright.workload.model import load_model

    inf = scenario.inference
    model = load_model(scenario.model)
    fabric = fabric_for(scenario)
    lay, rejected = enumerate_inference(inf, model, scenario.chips)
    if inf.disaggregated:
        return _predict_disaggregated(scenario, model, fabric, explain, network)
    m, r = price_candidates(scenario, model, fabric, lay)
    ok = m.fits(r["memory"]) & meets_slo(m, r)
    i = _choose(r["tokens_per_s_per_chip"], ok, lay.batch, m.offload)
    fits = i >= 0
    if not fits:
        mem_ok = m.fits(r["memory"])
        if mem_ok.any():
            i, reason = nearest_to_slo(m, r, mem_ok)
        else:
            i = int(np.argmin(hbm_bytes(r["memory"])))
            need = float(hbm_bytes(r["memory"])[i]) / 1e9
            reason = (
                "the weights and KV cache do not fit (the smallest candidate needs "
                f"{need:.1f} GB of {fabric.chip.hbm_gb:g} GB)"
            )
    one = lay.take([i])
    out: dict = {"scenario": scenario.name, "fits": bool(fits)}
    if not fits:
        out["reason"] = reason
    priced = (
        InferenceModel(scenario, model, fabric, network=network, offload=m.offload)
        if network
        else m
    )
    out["inference"] = _metrics(priced, one, inf.phase)
    out["layout"] = one.row(0)
    out["band"] = _band(scenario, model, fabric, one, inf.phase, network, m.offload)
    if explain:
        out["explain"] = _explain(m, one, inf.phase, r, ok, lay, priced if network else None)
    if network:
        out["network"] = "sim"
    return out


def _metrics(m: InferenceModel, one: InferLayouts, phase: str) -> dict:
    inf = m.inf
    body: dict = {"batch": int(one.batch[0]), "instance_chips": int(one.n[0])}
    if phase in ("decode", "serve"):
        d = m.decode(one)
        body["tpot_ms"] = float(d["tpot_s"][0] * 1e3)
        body["decode_tokens_per_s_per_chip"] = float(d["tokens_per_s_per_chip"][0])
        mem = d["memory"]
    if phase in ("prefill", "serve"):
        p = m.prefill(one)
        body["ttft_ms"] = float(p["ttft_s"][0] * 1e3)
        body["prefill_tokens_per_s_per_chip"] = float(p["tokens_per_s_per_chip"][0])
        mem = p["memory"] if phase == "prefill" else mem
    if phase == "serve":
        s = _serve(m, one)
        body["decode_tokens_per_s_per_chip"] = float(s["tokens_per_s_per_chip"][0])
        body["tpot_ms"] = float(s["tpot_s"][0] * 1e3)
        body["ttft_ms"] = float(s["ttft_s"][0] * 1e3)
    body["memory_gb_per_chip"] = float(hbm_bytes(mem)[0] / 1e9)
    body["memory_gb"] = {k: float(v[0] / 1e9) for k, v in mem.items() if k != "offloaded"}
    if mem["offloaded"][0] > 0:  # weights the engine keeps in host memory
        body["offloaded_gb_per_chip"] = float(mem["offloaded"][0] / 1e9)
    if inf.mtp:
        body["tokens_per_step"] = m.mtp_tokens()[1]
    return body


def _band(scenario, model, fabric, one, phase, network=None, offload=False) -> dict:
    out: dict = {}
    sides = [
        _metrics(InferenceModel(scenario, model, fabric, s, network, offload), one, phase)
        for s in (-1, 1)
    ]
    for key in (
        "tpot_ms",
        "ttft_ms",
        "decode_tokens_per_s_per_chip",
        "prefill_tokens_per_s_per_chip",
    ):
        if key in sides[0]:
            a, b = sides[0][key], sides[1][key]
            out[f"inference.{key}"] = [min(a, b), max(a, b)]
    return out


def _explain(m: InferenceModel, one: InferLayouts, phase: str, r, ok, lay, sim=None) -> dict:
    priced = sim or m
    st = priced.decode(one)["parts"] if phase != "prefill" else priced.prefill(one)["parts"]
    split = {k: float(np.asarray(v)[0]) for k, v in st.items() if k not in ("stage", "total")}
    out = {"step_s_per_stage": split, "stages": int(one.pp[0])}
    out["collectives"] = _step_collectives(m, one, phase, sim)
    if phase != "prefill":
        out["decode_step_s"] = float(st["total"][0])
        # what bounds the batch: the next larger batch of the same layout fails memory or SLO
        same = (
            (lay.n == one.n[0])
            & (lay.tp == one.tp[0])
            & (lay.pp == one.pp[0])
            & (lay.ep == one.ep[0])
        )
        bigger = same & (lay.batch > one.batch[0])
        if not bigger.any():
            bound = "the batch grid's largest value"
        else:
            j = np.nonzero(bigger)[0][np.argmin(lay.batch[bigger])]
            if not m.fits({k: v[[j]] for k, v in r["memory"].items()})[0]:
                bound = "memory (KV cache capacity)"
            else:
                bound = (
                    "SLO (TPOT)" if not ok[j] else "throughput (larger batch is slower per chip)"
                )
        out["batch_bound"] = bound
    if phase == "serve":
        split = _serve(priced, one)["split"]
        out["tpot_split_s"] = {k: float(np.asarray(v)[0]) for k, v in split.items()}
    return out


def _step_collectives(m: InferenceModel, one: InferLayouts, phase: str, sim=None) -> list[dict]:
    """The collectives of one step of the chosen layout and the fabric level each uses."""
    inf = m.inf
    if phase == "prefill":
        cached = inf.input_len * inf.cache_hit
        new, ctx = inf.input_len - cached, cached
    else:
        new, ctx = 1.0 + m.mtp_tokens()[0], inf.input_len + inf.output_len / 2.0
    w = step_work(m.model, one, "prefill" if phase == "prefill" else "decode", new, ctx,
                  m.kv_dtype, inf.expert_imbalance, m.prec, m.chip.dies)  # fmt: skip
    rows = []
    for c in w.comms:
        if not float(np.asarray(c.count)[0]) or float(np.asarray(c.group)[0]) <= 1:
            continue
        t, _ = m.net.time(c.kind, c.nbytes, c.group, c.stride)
        row = {
            "name": c.name,
            "kind": c.kind,
            "phase": "step",
            "group": int(np.asarray(c.group)[0]),
            "stride": int(np.asarray(c.stride)[0]),
            "fabric": m.net.level_name(c.group, c.stride)[0],
            "bytes": float(np.asarray(c.nbytes)[0]),
            "seconds_each": float(np.asarray(t)[0]),
        }
        if sim is not None:
            row["seconds_each_sim"] = float(
                np.asarray(sim.net.time(c.kind, c.nbytes, c.group, c.stride)[0])[0]
            )
        rows.append(row)
    return rows


def disaggregated_pools(scenario) -> dict:
    """The scenarios of a disaggregated deployment's prefill and decode pools: each pool's own
    chips, one instance of them all unless `instance_chips` says otherwise."""
    from podwright.specs.scenario import Inference

    inf = scenario.inference
    d = inf.disaggregated
    base = inf.model_dump()
    base.pop("disaggregated")

    def pool(phase: str, chips: int):
        instance = chips if inf.instance_chips in (None, "auto") else inf.instance_chips
        body = Inference(**{**base, "phase": phase, "instance_chips": instance})
        return scenario.model_copy(update={"inference": body, "chips": chips})

    return {"prefill": pool("prefill", d.prefill_chips), "decode": pool("decode", d.decode_chips)}


def kv_transfer_s(scenario, model: ModelSpec, fabric) -> float:
    """Seconds one prompt's KV cache takes from a prefill chip to a decode chip (point to point
    across the fabric)."""
    kv = kv_bytes_per_token(model, InferenceModel(scenario, model, fabric).kv_dtype)
    net = NetworkModel.of(fabric)
    nbytes = np.array([kv * scenario.inference.input_len])
    return float(net.time("p2p", nbytes, np.array([2]), np.array([fabric.chips]))[0][0])


def _predict_disaggregated(scenario, model, fabric, explain, network=None) -> dict:
    """Prefill and decode pools of their own chips; KV moves between them over the fabric."""
    inf = scenario.inference
    d = inf.disaggregated
    pools = disaggregated_pools(scenario)
    pre_s, dec_s = pools["prefill"], pools["decode"]
    pre = predict_inference(pre_s, network=network)
    dec = predict_inference(dec_s, network=network)
    p_rate = pre["inference"]["prefill_tokens_per_s_per_chip"] * d.prefill_chips / inf.input_len
    d_rate = dec["inference"]["decode_tokens_per_s_per_chip"] * d.decode_chips / inf.output_len
    rate = min(p_rate, d_rate)  # requests/s the deployment sustains
    total = d.prefill_chips + d.decode_chips
    t_kv = kv_transfer_s(scenario, model, fabric)
    ideal = (inf.input_len / pre["inference"]["prefill_tokens_per_s_per_chip"]) / (
        inf.output_len / dec["inference"]["decode_tokens_per_s_per_chip"]
    )
    body = {
        "ttft_ms": pre["inference"]["ttft_ms"] + t_kv * 1e3,
        "tpot_ms": dec["inference"]["tpot_ms"],
        "prefill_tokens_per_s_per_chip": pre["inference"]["prefill_tokens_per_s_per_chip"],
        "decode_tokens_per_s_per_chip": rate * inf.output_len / total,
        "kv_transfer_ms": t_kv * 1e3,
        "prefill_to_decode_chips_balanced": ideal,
        "memory_gb_per_chip": max(
            pre["inference"]["memory_gb_per_chip"], dec["inference"]["memory_gb_per_chip"]
        ),
        "batch": dec["inference"]["batch"],
    }
    # the band: each pool at its own low and high ends (the deployment's rate is the lesser pool)
    pb, db = pre.get("band", {}), dec.get("band", {})
    band = {}
    if (
        "inference.prefill_tokens_per_s_per_chip" in pb
        and "inference.decode_tokens_per_s_per_chip" in db
    ):
        p_lo, p_hi = (
            x * d.prefill_chips / inf.input_len
            for x in pb["inference.prefill_tokens_per_s_per_chip"]
        )
        d_lo, d_hi = (
            x * d.decode_chips / inf.output_len
            for x in db["inference.decode_tokens_per_s_per_chip"]
        )
        band["inference.decode_tokens_per_s_per_chip"] = [
            min(p_lo, d_lo) * inf.output_len / total,
            min(p_hi, d_hi) * inf.output_len / total,
        ]
        band["inference.prefill_tokens_per_s_per_chip"] = pb[
            "inference.prefill_tokens_per_s_per_chip"
        ]
    if "inference.ttft_ms" in pb:
        band["inference.ttft_ms"] = [x + t_kv * 1e3 for x in pb["inference.ttft_ms"]]
    if "inference.tpot_ms" in db:
        band["inference.tpot_ms"] = db["inference.tpot_ms"]
    out = {
        "scenario": scenario.name,
        "fits": pre["fits"] and dec["fits"],
        "inference": body,
        "layout": {"prefill": pre["layout"], "decode": dec["layout"]},
        "band": band,
    }
    failed = [f"{name} pool: {p['reason']}" for name, p in (("prefill", pre), ("decode", dec))
              if not p["fits"]]  # fmt: skip
    if failed:
        out["reason"] = "; ".join(failed)
    return out
