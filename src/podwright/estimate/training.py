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
from podwright.workload.training import dp_comms, model_flops_per_token, training_work

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


def evaluate_training(
    model: ModelSpec,
    fabric: Fabric,
    lay: TrainLayouts,
    seq: int,
    precision: str,
    overlap,
    side: int = 0,
) -> TrainingResult:
    chip = fabric.chip
    comp = ComputeModel.of(chip, precision, side)
    net = NetworkModel.of(fabric, side)
    work = training_work(model, lay, seq, precision)

    gemm_by_cls: dict[str, np.ndarray] = {}
    for g in work.gemms:
        gemm_by_cls[g.cls] = gemm_by_cls.get(g.cls, 0.0) + comp.gemm(g)
    t_gemm = sum(gemm_by_cls.values())
    t_attn = comp.attention(work.attn_flops, work.attn_bytes, work.attn_kernels)
    t_elem = comp.memory(work.elem_bytes, work.elem_kernels)
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
    comm = {k: np.zeros_like(fwd) for k in ("tp", "ep", "cp", "pp", "fsdp")}
    scale_out_time = np.zeros_like(fwd)
    for c in work.comms + [c for c in dp_comms(model, lay) if c.phase != "step"]:
        t, share = _comm_time(net, c)
        comm[c.overlap] = comm[c.overlap] + t
        scale_out_time = scale_out_time + t * share
    # full recompute repeats the forward TP communication
    tp_fwd = sum(
        _comm_time(net, c)[0] for c in work.comms if c.overlap == "tp" and c.phase == "fwd"
    )
    comm["tp"] = comm["tp"] + np.where(rec == RECOMPUTE.index("full"), tp_fwd, 0.0)
    tp_overlap = np.full(len(lay), bool(overlap.tp))
    dual = lay.schedule == SCHEDULES.index("dualpipe")
    ep_overlap = dual if overlap.ep is None else np.full(len(lay), bool(overlap.ep))
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
    t_grad = np.zeros_like(fwd)
    t_param = np.zeros_like(fwd)
    for c in dp_comms(model, lay):
        if c.phase != "step":
            continue
        t, share = _comm_time(net, c)
        scale_out_time = scale_out_time + t * share / np.maximum(m, 1)
        if c.kind == "all_gather":
            t_param = t_param + t
        else:
            t_grad = t_grad + t
    if overlap.dp:
        dp_exposed = np.maximum(0.0, t_grad - (bwd + recompute_t)) + np.maximum(0.0, t_param - fwd)
    else:
        dp_exposed = t_grad + t_param

    mem = training_memory(model, lay, seq)
    edp = lay.tp * lay.cp * lay.dp / (lay.ep * lay.etp)
    from podwright.workload.training import stage_params

    dense, expert = stage_params(model, lay)
    opt_params = np.where(lay.zero >= 1, dense / lay.dp + expert / edp, dense + expert)
    optimizer = comp.memory(opt_params * OPTIMIZER_BYTES_PER_PARAM)

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
