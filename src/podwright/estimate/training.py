"""The training step for arrays of layouts: per-stage forward/backward, pipeline schedule,
overlap of communication with compute, optimizer step, memory and MFU."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from podwright.errors import InputError
from podwright.estimate.compute import ComputeModel
from podwright.estimate.memory import StateBytes, activation_parts, in_flight, state_memory
from podwright.estimate.network import NetworkModel
from podwright.topology import Fabric
from podwright.workload.layout import RECOMPUTE, SCHEDULES, TrainLayouts
from podwright.workload.model import ModelSpec
from podwright.workload.training import (
    DTYPE_BYTES,
    MEGATRON_ORDER,
    chunk_share,
    dp_comms,
    model_flops_per_token,
    op_sac_blocks,
    stage_layers,
    stage_params,
    training_work,
)


@dataclass
class TrainingResult:
    layouts: TrainLayouts
    step_time_s: np.ndarray
    tokens_per_s_per_chip: np.ndarray
    mfu: np.ndarray
    hfu: np.ndarray
    tflops_per_chip: np.ndarray
    memory_bytes: np.ndarray
    fits: np.ndarray
    breakdown: dict[str, np.ndarray]
    memory: dict[str, np.ndarray]
    detail: dict = field(default_factory=dict)


def _comm_time(net: NetworkModel, c) -> tuple[np.ndarray, np.ndarray]:
    t, share = net.time(c.kind, c.nbytes, c.group, c.stride)
    return t * c.count, share


def layout_key(lay: TrainLayouts, names: tuple[str, ...]) -> np.ndarray:
    """One integer per layout that is equal exactly when the fields `names` are."""
    key = np.zeros(len(lay), dtype=np.int64)
    for name in names:
        col = getattr(lay, name).astype(np.int64)
        key = key * (int(col.max()) + 1) + col
    return key


def factorize(lay: TrainLayouts, names: tuple[str, ...]) -> tuple[TrainLayouts, np.ndarray]:
    """The distinct layouts over the fields `names` (one representative each) and, for every
    layout, the index of its representative: work that depends only on those fields is
    evaluated once per distinct value and gathered back."""
    key = layout_key(lay, names)
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return lay.take(first), inv.ravel()


# Everything but the global batch is evaluated once per distinct combination of these fields.
SHARED_KEYS = (
    "tp", "pp", "cp", "dp", "ep", "etp", "mb", "sp", "vpp", "zero", "schedule", "recompute",
)  # fmt: skip


def attention_times(comp: ComputeModel, work):
    """Forward and backward seconds of the attention core: FlashAttention's kernel (backward =
    2.5 forwards) or the unfused core (backward: two GEMMs per forward GEMM, and its own
    element-wise traffic)."""
    flash = comp.attention(work.attn_flops, work.attn_bytes, work.attn_kernels, work.attn_seq)
    core = sum((comp.gemm(g) for g in work.core_gemms), 0.0)
    fwd = flash + core + comp.memory(work.core_bytes_fwd)
    return fwd, 2.5 * flash + 2.0 * core + comp.memory(work.core_bytes_bwd)


def _micro_batch_work(model, sub, seq, precision, comp, net, order, attention, imbalance) -> dict:
    """Compute and communication of one micro-batch on the slowest stage."""
    work = training_work(model, sub, seq, precision, order, attention, imbalance)
    out: dict = {"gemm": {}}
    for g, t in zip(work.gemms, comp.gemms(work.gemms), strict=True):
        out["gemm"][g.cls] = out["gemm"].get(g.cls, 0.0) + t
    out["attn"], out["attn_bwd"] = attention_times(comp, work)
    out["elem"] = comp.memory(work.elem_bytes, work.elem_kernels)
    out["cast_fwd"] = comp.memory(work.cast_bytes_fwd)
    out["cast_bwd"] = comp.memory(work.cast_bytes_bwd)
    comm = {k: 0.0 for k in ("tp", "ep", "cp", "pp")}
    out["tp_fwd"] = 0.0
    out["scale_out"] = 0.0
    for c in work.comms:
        if not np.any(c.count) or np.all(c.group <= 1):
            continue
        t, share = _comm_time(net, c)
        comm[c.overlap] = comm[c.overlap] + t
        out["scale_out"] = out["scale_out"] + t * share
        if c.overlap == "tp" and c.phase == "fwd":
            out["tp_fwd"] = out["tp_fwd"] + t
    out["comm"] = comm
    return out


def _data_parallel_work(model, sub, comp, net, order, sb: StateBytes) -> dict:
    """Per-step gradient/parameter traffic, ZeRO-3 per-micro-batch traffic, optimizer."""
    out = {"grad": 0.0, "param": 0.0, "fsdp": 0.0, "scale_out_step": 0.0, "scale_out_mb": 0.0}
    for c in dp_comms(model, sub, sb.grad, order, sb.param):
        if not np.any(c.count) or np.all(c.group <= 1):
            continue
        t, share = _comm_time(net, c)
        if c.phase != "step":
            out["fsdp"] = out["fsdp"] + t
            out["scale_out_mb"] = out["scale_out_mb"] + t * share
            continue
        out["scale_out_step"] = out["scale_out_step"] + t * share
        if c.kind == "all_gather":
            out["param"] = out["param"] + t
        else:
            out["grad"] = out["grad"] + t
    edp = sub.tp * sub.cp * sub.dp / (sub.ep * sub.etp)
    dense, expert = stage_params(model, sub)
    opt_params = np.where(sub.zero >= 1, dense / (sub.dp * sub.cp) + expert / edp, dense + expert)
    out["optimizer"] = comp.memory(opt_params * sb.optimizer_step)
    return out


def _gather(d, inv, n):
    if isinstance(d, dict):
        return {k: _gather(v, inv, n) for k, v in d.items()}
    return np.asarray(d, dtype=float)[inv] if np.ndim(d) else np.full(n, float(d))


def _tp_exposed(comp, mbw, comm_tp, full, tp) -> np.ndarray:
    """TP communication left exposed with --tp-comm-overlap: the forward collectives (again in
    a full recompute) beside the forward projection GEMMs, the backward ones beside the
    data- and weight-gradient GEMMs."""
    g_fwd = mbw["gemm"].get("dense", 0.0)
    c_fwd = mbw["tp_fwd"] * (1.0 + full)
    fwd = comp.tp_exposed_under(g_fwd * (1.0 + full), c_fwd, tp)
    return fwd + comp.tp_exposed_under(2.0 * g_fwd, comm_tp - c_fwd, tp)


def _selective_recompute(model, mbw, selective: str):
    """Seconds a selectively recomputed layer adds to its backward pass: Megatron's attention
    core, or (`op`) torchtitan's every second block matmul and the element-wise ops."""
    if selective == "op":
        share = op_sac_blocks(model)[0]
        return share * mbw["gemm"].get("dense", 0.0) + mbw["elem"]
    return mbw["attn"]


def _selective_flops_share(model, seq, sub, selective: str) -> np.ndarray:
    """Recomputed FLOPs as a share of the model FLOPs (for HFU): torchtitan's op-level policy
    repeats its share of every block's forward matmuls; Megatron's selective recompute (the
    attention core) is not counted, as Megatron does not."""
    if selective != "op":
        return np.zeros(len(sub))
    share, _, block_params = op_sac_blocks(model)
    extra = share * 2.0 * block_params * model.layers / model_flops_per_token(model, seq)
    return np.where(sub.recompute == RECOMPUTE.index("selective"), extra, 0.0)


def _layout_costs(
    model,
    sub,
    seq,
    precision,
    comp,
    net,
    overlap,
    order,
    attention,
    sb,
    selective="megatron",
    imbalance=1.0,
) -> dict:
    """Everything about one micro-batch and one step that does not depend on the number of
    micro-batches, for layouts `sub`."""
    n = len(sub)
    mbw = _micro_batch_work(model, sub, seq, precision, comp, net, order, attention, imbalance)
    dpw = _data_parallel_work(model, sub, comp, net, order, sb)
    t_gemm = sum(mbw["gemm"].values())
    t_attn, t_elem = mbw["attn"], mbw["elem"]
    fwd = t_gemm + t_attn + t_elem + mbw["cast_fwd"]
    bwd = 2.0 * t_gemm + mbw["attn_bwd"] + 2.0 * t_elem + mbw["cast_bwd"]
    rec = sub.recompute
    full = rec == RECOMPUTE.index("full")
    selective_t = _selective_recompute(model, mbw, selective)
    recompute_t = np.where(
        full, fwd, np.where(rec == RECOMPUTE.index("selective"), selective_t, 0.0)
    )
    compute = fwd + bwd + recompute_t
    # per micro-batch communication by overlap class; full recompute repeats the forward TP
    comm = {k: v + np.zeros(n) for k, v in mbw["comm"].items()}
    comm["fsdp"] = dpw["fsdp"] + np.zeros(n)
    comm["tp"] = comm["tp"] + np.where(full, mbw["tp_fwd"], 0.0)
    dual = sub.schedule == SCHEDULES.index("dualpipe")
    ep_overlap = dual if overlap.ep is None else np.full(n, bool(overlap.ep))
    exposed = {
        "tp": _tp_exposed(comp, mbw, comm["tp"], full, sub.tp) if overlap.tp else comm["tp"],
        "ep": np.where(ep_overlap, comp.exposed_under(compute, comm["ep"]), comm["ep"]),
        "cp": comp.hidden_under(t_attn + mbw["attn_bwd"], comm["cp"]) if overlap.cp else comm["cp"],
        "pp": comm["pp"],
        "fsdp": comp.hidden_under(compute, comm["fsdp"]),
    }
    exposed_mb = sum(exposed.values())
    per_mb = compute + exposed_mb
    pp = sub.pp.astype(float)
    s = sub.schedule
    # interleaved: the bubble is (PP - 1) warm-up slots of the largest virtual chunk
    bubble = np.select(
        [s == SCHEDULES.index("interleaved"), s == SCHEDULES.index("dualpipe")],
        [
            (pp - 1) * chunk_share(model, sub) * per_mb,
            np.maximum(pp / 2 - 1, 0) * (fwd + 0.5 * (bwd + recompute_t)),
        ],
        (pp - 1) * per_mb,
    )
    # per-step data-parallel communication, hidden under the last backward / first forward
    t_grad, t_param = dpw["grad"] + np.zeros(n), dpw["param"] + np.zeros(n)
    if overlap.dp:
        dp_exposed = comp.hidden_under(bwd + recompute_t, t_grad) + comp.hidden_under(fwd, t_param)
    else:
        dp_exposed = t_grad + t_param
    state = state_memory(model, sub, sb)
    act_mb, logits = activation_parts(model, sub, seq, precision, attention, selective, imbalance)
    return {
        "per_mb": per_mb,
        "compute": compute,
        "exposed_mb": exposed_mb,
        "bubble": bubble,
        "dp_exposed": dp_exposed,
        "optimizer": dpw["optimizer"],
        "state": state,
        "act_mb": act_mb,
        "logits": logits,
        "full": full.astype(float),
        "selective_flops": _selective_flops_share(model, seq, sub, selective),
        # for --explain
        "detail": {
            "gemm": mbw["gemm"],
            "attn": t_attn + mbw["attn_bwd"],
            "elem": 3.0 * t_elem + mbw["cast_fwd"] + mbw["cast_bwd"],
            "recompute": recompute_t,
            "comm": comm,
            "exposed": exposed,
            "dp_total": t_grad + t_param,
            "scale_out": mbw["scale_out"] + dpw["scale_out_mb"],
            "scale_out_step": dpw["scale_out_step"],
        },
    }


def _with_plain_twins(sub: TrainLayouts) -> tuple[TrainLayouts, np.ndarray]:
    """`sub` followed by a copy with nothing recomputed of each full-recompute layout that has
    no such twin in `sub` already (a search over recompute has them), and for every row of
    `sub` the index of its twin (-1 where it does not recompute in full)."""
    full = sub.recompute == RECOMPUTE.index("full")
    twin = np.full(len(sub), -1, dtype=np.int64)
    if not full.any():
        return sub, twin
    key = layout_key(sub, tuple(k for k in SHARED_KEYS if k != "recompute"))
    none = np.nonzero(sub.recompute == RECOMPUTE.index("none"))[0]
    rows = np.nonzero(full)[0]
    if len(none):
        order = none[np.argsort(key[none], kind="stable")]
        at = np.minimum(np.searchsorted(key[order], key[rows]), len(order) - 1)
        twin[rows] = np.where(key[order[at]] == key[rows], order[at], -1)
    lone = rows[twin[rows] < 0]
    twin[lone] = len(sub) + np.arange(len(lone))
    extra = sub.take(lone)
    extra.recompute = np.full_like(extra.recompute, RECOMPUTE.index("none"))
    return sub.concat(extra), twin


def _recomputed_layers(model, lay: TrainLayouts, chip, c_all: dict, c_none: dict):
    """(layers of each pipeline chunk that full recompute covers, layers per chunk) for the
    full-recompute layouts `lay`. Megatron's block method recomputes the first N layers of
    each chunk; N is stated (rc_layers > 0), every layer (0), or the fewest that fit (-1)."""
    dense_l, moe_l = stage_layers(model, lay)
    chunk = np.ceil((dense_l + moe_l) / np.maximum(lay.vpp, 1))
    flight = in_flight(model, lay)
    room = chip.hbm_gb * 1e9 - sum(c_all["state"].values()) - c_all["logits"]
    saved = flight * (c_none["act_mb"] - c_all["act_mb"])
    need = (flight * c_none["act_mb"] - room) / np.maximum(saved, 1e-30)
    fewest = np.maximum(np.ceil(np.clip(need, 0.0, 1.0) * chunk - 1e-9), 1.0)
    rc = lay.rc_layers
    return np.where(rc < 0, fewest, np.where(rc == 0, chunk, np.minimum(rc, chunk))), chunk


def _blend_rows(c: dict, c_none: dict, rows, share) -> None:
    """c[rows] = c_none + share x (c[rows] - c_none), in place through nested dicts."""
    for key, v in c.items():
        if isinstance(v, dict):
            _blend_rows(v, c_none[key], rows, share)
        else:
            v[rows] = c_none[key] + share * (v[rows] - c_none[key])


def _partial_recompute(model, lay, chip, inv, twin, costs, c: dict, keep: dict | None):
    """Full recompute of part of the layers lies between recomputing nothing and every layer
    (time and memory are linear in the layers recomputed): the full-recompute layouts are
    blended in place with their twins' costs (nothing recomputed) by the share of layers
    recomputed. Returns the layouts with those layers resolved (0: every layer)."""
    rows = np.nonzero(lay.recompute == RECOMPUTE.index("full"))[0]
    if not len(rows):
        return lay
    at = twin[inv[rows]]
    c_none = _gather({k: v for k, v in costs.items() if k != "detail"}, at, len(rows))
    c_all = {"logits": c["logits"][rows], "act_mb": c["act_mb"][rows],
             "state": {k: v[rows] for k, v in c["state"].items()}}  # fmt: skip
    k, chunk = _recomputed_layers(model, lay.take(rows), chip, c_all, c_none)
    _blend_rows(c, c_none, rows, k / chunk)
    if keep is not None:
        _blend_rows(keep, _gather(costs["detail"], at, len(rows)), rows, k / chunk)
    rc = np.zeros_like(lay.rc_layers)
    rc[rows] = np.where(k < chunk, k, 0)
    return dataclasses.replace(lay, rc_layers=rc)


def evaluate_training(
    model: ModelSpec,
    fabric: Fabric,
    lay: TrainLayouts,
    seq: int,
    precision: str,
    overlap,
    side: int = 0,
    detail: bool = False,
    network=None,
    placement=MEGATRON_ORDER,
    attention: str = "flash",
    state_bytes: StateBytes | None = None,
    selective: str = "megatron",
    expert_imbalance: float = 1.0,
) -> TrainingResult:
    """Step time, MFU and memory of every layout; `detail` adds the per-class split that
    --explain prints. `network(fabric, side)` makes the network model (default: analytical)."""
    chip = fabric.chip
    comp = ComputeModel.of(chip, precision, side, attention)
    net = (network or NetworkModel.of)(fabric, side).with_nccl_ramp()
    n = len(lay)
    sub, inv = factorize(lay, SHARED_KEYS)
    sb = state_bytes or StateBytes()
    # full-recompute layouts are costed beside their twins that recompute nothing
    sub, twin = _with_plain_twins(sub)
    costs = _layout_costs(
        model, sub, seq, precision, comp, net, overlap, placement, attention, sb, selective,
        expert_imbalance,
    )  # fmt: skip
    c = _gather({k: v for k, v in costs.items() if k != "detail"}, inv, n)
    keep = _gather(costs["detail"], inv, n) if detail else None
    lay = _partial_recompute(model, lay, chip, inv, twin, costs, c, keep)

    m = lay.microbatches.astype(float)
    step = m * c["per_mb"] + c["bubble"] + c["dp_exposed"] + c["optimizer"]
    mem = c["state"] | {"activations": c["act_mb"] * in_flight(model, lay) + c["logits"]}
    total_mem = mem["weights"] + mem["gradients"] + mem["optimizer"] + mem["activations"]
    chips = float(fabric.chips)
    tokens = lay.gbs.astype(float) * seq
    mflops = model_flops_per_token(model, seq) * tokens
    peak = chip.peak(precision) * 1e12
    per_chip_s = step * chips
    result = TrainingResult(
        layouts=lay,
        step_time_s=step,
        tokens_per_s_per_chip=tokens / per_chip_s,
        mfu=mflops / (per_chip_s * peak),
        hfu=mflops * (1 + c["full"] / 3 + c["selective_flops"]) / (per_chip_s * peak),
        tflops_per_chip=mflops / per_chip_s / 1e12,
        memory_bytes=total_mem,
        fits=total_mem <= chip.hbm_gb * 1e9,
        breakdown={
            "compute": m * c["compute"],
            "exposed_comm": m * c["exposed_mb"] + c["dp_exposed"],
            "pipeline_bubble": c["bubble"],
            "optimizer": c["optimizer"],
        },
        memory=mem,
    )
    if keep is None:
        return result
    d = keep
    comm_sum = sum(d["comm"].values())
    result.detail = {
        "gemm_s": {k: m * 3 * v for k, v in d["gemm"].items()},
        "attention_s": m * d["attn"],
        "elementwise_s": m * d["elem"],
        "recompute_s": m * d["recompute"],
        "comm_total_s": {k: m * v for k, v in d["comm"].items()} | {"dp": d["dp_total"]},
        "comm_exposed_s": {k: m * v for k, v in d["exposed"].items()} | {"dp": c["dp_exposed"]},
        "scale_out_share": (m * d["scale_out"] + d["scale_out_step"])
        / np.maximum(m * comm_sum + d["dp_total"], 1e-30),
        "microbatches": m,
    }
    return result


def state_bytes(tr) -> StateBytes:
    """Bytes per parameter of the weights, gradients and optimizer state a scenario's training
    section asks for. A master-parameter "remainder" is the two bytes of each fp32 value that
    its 16-bit weight does not already hold."""
    master = 2.0 if tr.master_params == "remainder" else DTYPE_BYTES[tr.master_params]
    return StateBytes(
        grad=DTYPE_BYTES[tr.grad_reduce],
        param=DTYPE_BYTES["fp8"] if tr.fp8_params else DTYPE_BYTES["bf16"],
        optimizer=master + 2.0 * DTYPE_BYTES[tr.optimizer_states],
    )


def evaluate_scenario(scenario, model: ModelSpec, fabric: Fabric, lay: TrainLayouts, **kw):
    """evaluate_training with the scenario's sequence, precision, overlap, placement and
    attention kernels."""
    tr = scenario.training
    if tr.fp8_params and scenario.precision not in ("fp8", "fp4"):
        raise InputError("training.fp8_params", "needs precision fp8 or fp4")
    if tr.expert_imbalance != 1.0 and not model.moe:
        raise InputError("training.expert_imbalance", f"{model.name} has no routed experts")
    if tr.selective_policy == "op":
        try:
            op_sac_blocks(model)
        except ValueError as err:
            raise InputError("training.selective_policy", str(err)) from None
    return evaluate_training(
        model, fabric, lay, tr.seq_len, scenario.precision, tr.overlap,
        placement=tr.placement, attention=tr.attention, state_bytes=state_bytes(tr),
        selective=tr.selective_policy, expert_imbalance=tr.expert_imbalance, **kw,
    )  # fmt: skip
