"""The training step for arrays of layouts: per-stage forward/backward, pipeline schedule,
overlap of communication with compute, optimizer step, memory and MFU."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from podwright.estimate.compute import ComputeModel
from podwright.estimate.memory import training_memory
from podwright.estimate.network import NetworkModel
from podwright.topology import Fabric
from podwright.workload.layout import RECOMPUTE, SCHEDULES, TrainLayouts
from podwright.workload.model import ModelSpec
from podwright.workload.training import (
    dp_comms,
    model_flops_per_token,
    stage_params,
    training_work,
)

OPTIMIZER_BYTES_PER_PARAM = (
    30.0  # Adam: read fp32 master, m, v, grad (16); write master, m, v, bf16 copy (14)
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


def factorize(lay: TrainLayouts, names: tuple[str, ...]) -> tuple[TrainLayouts, np.ndarray]:
    """The distinct layouts over the fields `names` (one representative each) and, for every
    layout, the index of its representative: work that depends only on those fields is
    evaluated once per distinct value and gathered back."""
    key = np.zeros(len(lay), dtype=np.int64)
    for name in names:
        col = getattr(lay, name).astype(np.int64)
        key = key * (int(col.max()) + 1) + col
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return lay.take(first), inv.ravel()


MICROBATCH_KEYS = ("tp", "pp", "cp", "dp", "ep", "etp", "mb", "sp", "vpp")
DP_KEYS = ("tp", "pp", "cp", "dp", "ep", "etp", "zero")


def _micro_batch_work(model, sub, seq, precision, comp, net) -> dict:
    """Compute and communication of one micro-batch on the slowest stage."""
    work = training_work(model, sub, seq, precision)
    out: dict = {"gemm": {}}
    for g in work.gemms:
        out["gemm"][g.cls] = out["gemm"].get(g.cls, 0.0) + comp.gemm(g)
    out["attn"] = comp.attention(work.attn_flops, work.attn_bytes, work.attn_kernels)
    out["elem"] = comp.memory(work.elem_bytes, work.elem_kernels)
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


def _data_parallel_work(model, sub, comp, net) -> dict:
    """Per-step gradient/parameter traffic, ZeRO-3 per-micro-batch traffic, optimizer."""
    out = {"grad": 0.0, "param": 0.0, "fsdp": 0.0, "scale_out_step": 0.0, "scale_out_mb": 0.0}
    for c in dp_comms(model, sub):
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
    opt_params = np.where(sub.zero >= 1, dense / sub.dp + expert / edp, dense + expert)
    out["optimizer"] = comp.memory(opt_params * OPTIMIZER_BYTES_PER_PARAM)
    return out


def _gather(d, inv, n):
    if isinstance(d, dict):
        return {k: _gather(v, inv, n) for k, v in d.items()}
    return np.asarray(d, dtype=float)[inv] if np.ndim(d) else np.full(n, float(d))


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
) -> TrainingResult:
    """Step time, MFU and memory of every layout; `detail` adds the per-class split that
    --explain prints. `network(fabric, side)` makes the network model (default: analytical)."""
    chip = fabric.chip
    comp = ComputeModel.of(chip, precision, side)
    net = (network or NetworkModel.of)(fabric, side)
    n = len(lay)
    sub, inv = factorize(lay, MICROBATCH_KEYS)
    mbw = _gather(_micro_batch_work(model, sub, seq, precision, comp, net), inv, n)
    sub, inv = factorize(lay, DP_KEYS)
    dpw = _gather(_data_parallel_work(model, sub, comp, net), inv, n)

    gemm_by_cls = mbw["gemm"]
    t_gemm = sum(gemm_by_cls.values())
    t_attn, t_elem = mbw["attn"], mbw["elem"]
    fwd = t_gemm + t_attn + t_elem
    bwd = 2.0 * t_gemm + 2.5 * t_attn + 2.0 * t_elem
    rec = lay.recompute
    recompute_t = np.where(
        rec == RECOMPUTE.index("full"),
        fwd,
        np.where(rec == RECOMPUTE.index("selective"), t_attn, 0.0),
    )
    compute = fwd + bwd + recompute_t

    # per micro-batch communication, by overlap class
    comm = dict(mbw["comm"])
    comm["fsdp"] = dpw["fsdp"]
    scale_out_time = mbw["scale_out"] + dpw["scale_out_mb"]
    # full recompute repeats the forward TP communication
    comm["tp"] = comm["tp"] + np.where(rec == RECOMPUTE.index("full"), mbw["tp_fwd"], 0.0)
    tp_overlap = np.full(n, bool(overlap.tp))
    dual = lay.schedule == SCHEDULES.index("dualpipe")
    ep_overlap = dual if overlap.ep is None else np.full(n, bool(overlap.ep))
    exposed = {
        "tp": np.where(tp_overlap, np.maximum(0.0, comm["tp"] - 3.0 * t_gemm), comm["tp"]),
        "ep": np.where(ep_overlap, np.maximum(0.0, comm["ep"] - compute), comm["ep"]),
        "cp": np.maximum(0.0, comm["cp"] - 3.5 * t_attn) if overlap.cp else comm["cp"],
        "pp": comm["pp"],
        "fsdp": np.maximum(0.0, comm["fsdp"] - compute),
    }
    per_mb = compute + sum(exposed.values())

    m = lay.microbatches.astype(float)
    pp = lay.pp.astype(float)
    s = lay.schedule
    bubble = np.select(
        [s == SCHEDULES.index("interleaved"), s == SCHEDULES.index("dualpipe")],
        [
            (pp - 1) / np.maximum(lay.vpp, 1) * per_mb,
            np.maximum(pp / 2 - 1, 0) * (fwd + 0.5 * (bwd + recompute_t)),
        ],
        (pp - 1) * per_mb,
    )

    # per-step data-parallel communication, hidden under the last backward / first forward
    t_grad, t_param, optimizer = dpw["grad"], dpw["param"], dpw["optimizer"]
    scale_out_time = scale_out_time + dpw["scale_out_step"] / np.maximum(m, 1)
    if overlap.dp:
        dp_exposed = np.maximum(0.0, t_grad - (bwd + recompute_t)) + np.maximum(0.0, t_param - fwd)
    else:
        dp_exposed = t_grad + t_param

    mem = training_memory(model, lay, seq)

    step = m * per_mb + bubble + dp_exposed + optimizer
    chips = float(fabric.chips)
    tokens = lay.gbs.astype(float) * seq
    mflops = model_flops_per_token(model, seq) * tokens
    peak = chip.peak(precision) * 1e12
    hw_flops = mflops * (1 + np.where(rec == RECOMPUTE.index("full"), 1 / 3, 0.0))
    total_mem = sum(mem.values())
    result = TrainingResult(
        layouts=lay,
        step_time_s=step,
        tokens_per_s_per_chip=tokens / step / chips,
        mfu=mflops / (step * chips * peak),
        hfu=hw_flops / (step * chips * peak),
        tflops_per_chip=mflops / step / chips / 1e12,
        memory_bytes=total_mem,
        fits=total_mem <= chip.hbm_gb * 1e9,
        breakdown={
            "compute": m * compute,
            "exposed_comm": m * sum(exposed.values()) + dp_exposed,
            "pipeline_bubble": bubble,
            "optimizer": optimizer,
        },
        memory=mem,
    )
    if not detail:
        return result
    result.detail = {
        "gemm_s": {k: m * 3 * v for k, v in gemm_by_cls.items()},
        "attention_s": m * 3.5 * t_attn,
        "elementwise_s": m * 3 * t_elem,
        "recompute_s": m * recompute_t,
        "comm_total_s": {k: m * v for k, v in comm.items()} | {"dp": t_grad + t_param},
        "comm_exposed_s": {k: m * v for k, v in exposed.items()} | {"dp": dp_exposed},
        "scale_out_share": scale_out_time
        / np.maximum(m * sum(comm.values()) + t_grad + t_param, 1e-30),
        "microbatches": m,
    }
    return result
