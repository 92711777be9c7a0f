"""Training parallel layouts as numpy arrays: enumerate the candidates a scenario allows
(every `auto` key over its valid values) and reject the invalid ones by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from podwright.errors import InputError
from podwright.workload.model import ModelSpec
from podwright.workload.operations import Columns

SCHEDULES = ("1f1b", "interleaved", "dualpipe", "gpipe")
RECOMPUTE = ("none", "selective", "full")


@dataclass
class TrainLayouts(Columns):
    """N candidate layouts, one array entry each."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    etp: np.ndarray
    vpp: np.ndarray
    mb: np.ndarray
    zero: np.ndarray
    recompute: np.ndarray  # index into RECOMPUTE
    schedule: np.ndarray  # index into SCHEDULES
    sp: np.ndarray  # sequence parallel (bool)
    gbs: np.ndarray
    # full recompute: layers recomputed per pipeline chunk (0: all of them; -1: the fewest that
    # fit, resolved by the estimator)
    rc_layers: np.ndarray | None = None

    def __post_init__(self):
        if self.rc_layers is None:
            self.rc_layers = np.zeros_like(self.tp)

    @property
    def microbatches(self) -> np.ndarray:
        return self.gbs // (self.dp * self.mb)

    def row(self, i: int) -> dict:
        d = {a: int(getattr(self, a)[i]) for a in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp")}
        return {
            "parallel": d,
            "micro_batch": int(self.mb[i]),
            "global_batch": int(self.gbs[i]),
            "zero": int(self.zero[i]),
            "recompute": RECOMPUTE[int(self.recompute[i])],
            "schedule": SCHEDULES[int(self.schedule[i])],
            "sequence_parallel": bool(self.sp[i]),
        } | (
            {"recompute_layers": int(self.rc_layers[i])}
            if self.recompute[i] == RECOMPUTE.index("full") and self.rc_layers[i] > 0
            else {}
        )


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _values(key: str, value, chips: int, model: ModelSpec) -> list:
    if value != "auto":
        return [value]
    if key in ("tp", "etp"):
        return [d for d in divisors(chips) if d <= 64]
    if key in ("pp",):
        return [d for d in divisors(chips) if d <= model.layers]
    if key == "cp":
        return [d for d in divisors(chips) if d <= 32]
    if key == "dp":
        return [None]
    if key == "ep":
        return [d for d in divisors(chips) if model.experts and model.experts % d == 0] or [1]
    if key == "mb":
        return [1, 2, 4, 8]
    if key == "zero":
        return [0, 1, 2, 3]
    if key == "recompute":
        return list(RECOMPUTE)
    if key == "schedule":
        return list(SCHEDULES)
    raise KeyError(key)


def _pp_vpp_pairs(pps: list[int], vpp, model: ModelSpec) -> np.ndarray:
    """(pp, vpp) pairs to try. Megatron-Core's --pipeline-model-parallel-layout lets virtual
    chunks hold unequal layer counts, so any depth up to the layers per stage L is possible. The
    bubble depends only on the largest chunk, ceil(L / vpp) layers, so under `auto` each chunk
    size is tried once, at the smallest depth that gives it (fewer pipeline sends, same bubble)."""
    pairs = []
    for p in pps:
        stage = -(-model.layers // p)
        depths = [vpp] if vpp != "auto" else {-(-stage // c) for c in range(1, stage + 1)}
        pairs += [(p, v) for v in sorted(depths)]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _product(*axes) -> np.ndarray:
    """Cartesian product of integer axes, one row per combination."""
    mesh = np.meshgrid(*[np.asarray(a, dtype=np.int64) for a in axes], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def enumerate_layouts(training, model: ModelSpec, chips: int) -> tuple[TrainLayouts, Counter]:
    """All layouts the scenario allows, and the count of rejected ones by reason."""
    par = training.parallel
    sched = training.schedule
    grid = {
        "tp": _values("tp", par.tp, chips, model),
        "pp": _values("pp", par.pp, chips, model),
        "cp": _values("cp", par.cp, chips, model),
        "dp": _values("dp", par.dp, chips, model),
        "ep": _values("ep", par.ep, chips, model),
        "etp": _values("etp", par.etp, chips, model),
        "mb": _values("mb", training.micro_batch, chips, model),
        "zero": _values("zero", training.zero, chips, model),
        "recompute": _values("recompute", training.recompute or "auto", chips, model),
        "schedule": _values("schedule", sched, chips, model) if sched == "auto" else [sched],
    }
    if par.etp == "auto" and not model.moe:
        grid["etp"] = [1]
    pairs = _pp_vpp_pairs(grid["pp"], par.vpp, model)
    combos = _product(
        grid["tp"], np.arange(len(pairs)), grid["cp"], grid["ep"], grid["etp"], grid["mb"],
        grid["zero"], [RECOMPUTE.index(r) for r in grid["recompute"]],
        [-1 if s is None else SCHEDULES.index(s) for s in grid["schedule"]],
    )  # fmt: skip
    tp, pair, cp, ep, etp, mb, zero, rec, sch = combos.T
    pp, vpp = pairs[pair].T
    fixed_dp = grid["dp"][0]
    rejected: Counter = Counter()
    keep = np.ones(len(tp), dtype=bool)

    def reject(mask, reason):
        nonlocal keep
        bad = keep & mask
        if bad.any():
            rejected[reason] += int(bad.sum())
        keep &= ~mask

    model_chips = tp * pp * cp
    reject(chips % model_chips != 0, "tp x pp x cp does not divide the chips")
    dp = np.where(model_chips > 0, chips // np.maximum(model_chips, 1), 0)
    if fixed_dp is not None:
        reject(dp != fixed_dp, "tp x pp x dp x cp differs from the chips")
    reject(model.heads % tp != 0, "TP does not divide the attention heads")
    reject((model.kv_heads % tp != 0) & (tp % model.kv_heads != 0), "TP does not divide KV heads")
    if model.moe:
        reject(model.experts % ep != 0, "EP does not divide the experts")
        reject((tp * cp * dp) % (ep * etp) != 0, "EP x ETP does not divide TP x CP x DP")
    else:
        reject(ep != 1, "EP needs an MoE model")
    gbs = training.global_batch
    if gbs is None:
        # documented default: enough micro-batches to fill the pipeline 4 times
        gbs_arr = dp * mb * np.maximum(4 * pp, 1)
    elif gbs == "auto":
        raise InputError("training.global_batch", "'auto' is not supported; give a number")
    else:
        gbs_arr = np.full_like(tp, gbs)
    reject(gbs_arr % np.maximum(dp * mb, 1) != 0, "global batch not divisible by DP x micro-batch")
    m = gbs_arr // np.maximum(dp * mb, 1)
    # schedule: unstated -> interleaved when vpp > 1, else 1f1b
    sch = np.where(sch < 0, np.where(vpp > 1, 1, 0), sch)
    reject((sch == 1) & (vpp < 2) & (pp > 1), "interleaved schedule needs vpp >= 2")
    reject((sch != 1) & (vpp > 1), "vpp > 1 needs the interleaved schedule")
    reject((sch == 1) & (pp == 1) & (vpp > 1), "interleaving needs PP > 1")
    reject(
        (sch == 1) & (pp > 1) & (m % np.maximum(pp, 1) != 0),
        "interleaved: micro-batches not a multiple of PP",
    )
    reject(np.ceil(model.layers / pp) < vpp, "fewer layers per stage than vpp")
    reject((sch == 2) & (pp % 2 != 0), "dualpipe needs an even PP")
    # DualPipe feeds half the micro-batches from each end (deepseek-ai/DualPipe dualpipe.py:
    # `num_chunks % 2 == 0 and num_chunks >= num_ranks * 2`)
    reject(
        (sch == 2) & ((m % 2 != 0) | (m < 2 * pp)),
        "dualpipe needs an even number of micro-batches, at least 2 x PP",
    )
    sp_cfg = training.sequence_parallel
    sp = np.where(tp > 1, True if sp_cfg is None else bool(sp_cfg), False)
    # full recompute: every layer when stated, the fewest layers that fit when left to podwright
    stated = training.recompute not in (None, "auto")
    rc_layers = np.full_like(tp, training.recompute_layers or (0 if stated else -1))
    layouts = TrainLayouts(
        tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, etp=etp, vpp=vpp, mb=mb, zero=zero,
        recompute=rec, schedule=sch, sp=sp, gbs=gbs_arr, rc_layers=rc_layers,
    ).take(np.nonzero(keep)[0])  # fmt: skip
    return layouts, rejected


REASON_FIELD = {
    "tp x pp x cp does not divide the chips": "training.parallel",
    "tp x pp x dp x cp differs from the chips": "training.parallel.dp",
    "TP does not divide the attention heads": "training.parallel.tp",
    "TP does not divide KV heads": "training.parallel.tp",
    "EP does not divide the experts": "training.parallel.ep",
    "EP x ETP does not divide TP x CP x DP": "training.parallel.ep",
    "EP needs an MoE model": "training.parallel.ep",
    "global batch not divisible by DP x micro-batch": "training.global_batch",
    "interleaved schedule needs vpp >= 2": "training.parallel.vpp",
    "vpp > 1 needs the interleaved schedule": "training.schedule",
    "interleaving needs PP > 1": "training.parallel.vpp",
    "interleaved: micro-batches not a multiple of PP": "training.global_batch",
    "fewer layers per stage than vpp": "training.parallel.vpp",
    "dualpipe needs an even PP": "training.parallel.pp",
    "dualpipe needs an even number of micro-batches, at least 2 x PP": "training.global_batch",
}
