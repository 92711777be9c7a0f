"""Training as operations: per micro-batch on the slowest stage, for arrays of layouts.

Conventions:
- Megatron placement: TP innermost, then CP, then EP (over the TP x CP x DP ranks, ETP inside
  EP), DP, PP outermost; sequence parallelism with TP.
- Per chip, a micro-batch of `mb` sequences of `s` tokens gives T = mb*s/cp tokens to every
  GEMM of the TP group; routed experts see the tokens the EP group sends them (top-k each).
- Model FLOPs (for MFU) follow PaLM/Megatron: 6 x matmul parameters per token plus
  12 x layers x heads x head_dim x seq per token for attention (no causal discount, no
  recompute). Executed attention FLOPs are causal (half), as FlashAttention skips masked blocks;
  `attention="unfused"` runs the core as batched GEMMs over the full s x s scores instead.
- Activation memory: Korthikanti et al. 2022 (Megatron's theoretical_memory_usage), per layer
  s*b*h*(18 + 4*ffn/h) bytes with selective recompute or FlashAttention, + 5*a*s^2*b with the
  unfused core and no recompute, s*b*h*2 with full recompute; divided by TP (with sequence
  parallelism) and CP.
- Selective recompute is Megatron's (the attention core) unless the scenario states
  `selective_policy: op`: PyTorch's op-level selective activation checkpointing as torchtitan
  applies it to each transformer block, which saves the outputs of the matmuls and the
  attention kernel except every second matmul (counted in call order), and recomputes those
  matmuls and the element-wise ops (`op_sac_blocks`).
"""

from __future__ import annotations

import numpy as np

from podwright.specs.catalog import element_bytes
from podwright.workload.layout import TrainLayouts
from podwright.workload.model import ModelSpec
from podwright.workload.operations import (
    ELEMENTWISE_KERNELS_PER_LAYER,
    ELEMENTWISE_KERNELS_PER_MOE_LAYER,
    Comm,
    Gemm,
    Work,
    projection_gemms,
)

DTYPE_BYTES = element_bytes()


def op_sac_blocks(model: ModelSpec) -> tuple[float, float, float]:
    """torchtitan's op-level selective checkpointing of one dense block (`selective_ac_option:
    op`: a matmul's output is saved unless it is the block's 2nd, 4th, ... matmul in call order,
    wq, wk, wv, wo, then w1 (gate), w3 (up), w2 (down), or fc1, fc2 without a gate).

    Returns (share of the block's forward matmul FLOPs that is recomputed, activation elements
    per token kept for the backward pass: the block input, the saved matmul outputs and the
    attention output, the block's matmul parameters)."""
    if model.mla or model.moe or model.bias:
        # MLA / expert blocks and biased linears (aten.addmm, which the policy neither counts
        # nor saves) are not what the policy was written for
        raise ValueError("op is defined for dense, bias-free attention blocks (torchtitan's)")
    h, q = model.hidden, model.heads * model.head_dim
    kv = model.kv_heads * model.head_dim
    f = model.ffn
    mlp = [(h, f), (h, f), (f, h)] if model.gated else [(h, f), (f, h)]
    mms = [(h, q), (h, kv), (h, kv), (q, h), *mlp]  # (input, output) features, in call order
    work = np.array([i * o for i, o in mms], dtype=float)
    recomputed = work[1::2].sum() / work.sum()
    kept = h + sum(o for _, o in mms[0::2]) + q  # block input, odd matmuls' outputs, attention
    return float(recomputed), float(kept), float(work.sum())


def stage_layers(model: ModelSpec, lay: TrainLayouts):
    """(dense layers, MoE layers) on the most loaded stage (uneven splits take the ceiling)."""
    per = np.ceil(model.layers / lay.pp)
    if not model.moe:
        return per, np.zeros_like(per)
    frac_moe = model.moe_layers / model.layers
    moe = np.ceil(per * frac_moe)
    return per - moe, moe


def chunk_share(model: ModelSpec, lay: TrainLayouts) -> np.ndarray:
    """Share of the most loaded stage's layers that its largest virtual pipeline chunk holds:
    1/vpp when vpp divides the stage's layers, more when the chunks are unequal."""
    stage = sum(stage_layers(model, lay))
    return np.ceil(stage / np.maximum(lay.vpp, 1)) / np.maximum(stage, 1)


MEGATRON_ORDER = ("tp", "cp", "dp", "pp")
# bytes per element of an FP8 cast with transpose: read 16-bit, write row- and column-wise copies
CAST_BYTES = 4.0


def strides(lay: TrainLayouts, order=MEGATRON_ORDER) -> dict[str, np.ndarray]:
    """Distance between neighbours of each parallel group when ranks are placed in `order`,
    innermost first (Megatron: TP, CP, DP, PP; experts are spread along the DP axis)."""
    size = {"tp": lay.tp, "cp": lay.cp, "dp": lay.dp, "pp": lay.pp}
    out, acc = {}, np.ones_like(lay.tp)
    for axis in order:
        out[axis] = acc
        acc = acc * size[axis]
    return out


# Unfused attention core (Megatron-LM 2021-22 CoreAttention, Korthikanti et al. 2022 sec. 4.1):
# HBM bytes per element of the s x s scores of one head. Forward: the QK^T GEMM writes the
# scores (2), scale-mask-softmax reads and writes them (2 + 2), dropout reads the probabilities
# and writes its output and its mask (2 + 2 + 1). Backward: the dgrad GEMM writes the gradient
# of the dropout output (2), dropout's backward reads it with the mask and writes (2 + 1 + 2),
# softmax's backward reads that gradient and the saved probabilities and writes (2 + 2 + 2).
UNFUSED_CORE_BYTES_FWD = 11.0
UNFUSED_CORE_BYTES_BWD = 13.0


def unfused_core(w: Work, group, q, seq, d_qk, d_v, layers) -> Work:
    """Adds the unfused attention core to `w`: per layer, batched GEMMs over all q x seq scores
    of `group` heads x sequences (no causal skipping), and the scores' element-wise traffic."""
    one = np.ones_like(np.asarray(q, dtype=float))
    w.core_gemms = [
        Gemm("scores", q, seq * one, d_qk * one, layers * group, "attention", group=group),
        Gemm("context", q, d_v * one, seq * one, layers * group, "attention", group=group),
    ]
    elements = group * q * seq * layers
    w.core_bytes_fwd = UNFUSED_CORE_BYTES_FWD * elements
    w.core_bytes_bwd = UNFUSED_CORE_BYTES_BWD * elements
    return w


def training_work(
    model: ModelSpec,
    lay: TrainLayouts,
    seq: int,
    precision: str,
    order=MEGATRON_ORDER,
    attention: str = "flash",
    imbalance: float = 1.0,
) -> Work:
    """`imbalance`: tokens the busiest expert-parallel rank receives over the mean; its expert
    GEMMs, the traffic of the tokens it receives and its all-to-all set the pace of every rank."""
    h, V = model.hidden, model.vocab
    tp, cp, ep, etp = lay.tp, lay.cp, lay.ep, lay.etp
    T = lay.mb * seq / cp  # tokens per GEMM on each chip
    dense_l, moe_l = stage_layers(model, lay)
    extra = float(model.mtp_layers)  # MTP modules run on the last stage
    if model.moe:
        moe_l = moe_l + extra
    else:
        dense_l = dense_l + extra
    layers = dense_l + moe_l
    one = np.ones_like(T)
    w = Work()

    w.gemms += projection_gemms(model, T, tp, layers, dense_l, moe_l)
    up = 2 if model.gated else 1
    if model.moe:
        t_rank = T / tp  # tokens each rank routes (sequence parallel)
        local = model.experts / ep
        # tokens per local expert on the busiest rank
        m_e = ep * t_rank * etp * model.top_k / model.experts * imbalance
        cnt = moe_l * local
        for name, n, k in (("expert_up", up * model.expert_ffn / etp, h * one),
                           ("expert_down", h * one, model.expert_ffn / etp)):  # fmt: skip
            w.gemms.append(Gemm(name, m_e, n, k, cnt, "expert", group=local))
    # the LM head (and each MTP module's) sits on the last stage, the slowest one
    w.gemms.append(Gemm("lm_head", T, V / tp, h * one, (1 + extra) * one, "head"))

    # --- attention core (FlashAttention; causal) --------------------------------------------
    d_qk = model.qk_head_dim
    d_v = model.v_dim if model.mla else model.head_dim
    s_eff = np.full_like(T, seq / 2.0)
    if model.sliding_layers:
        frac = model.sliding_layers / model.layers
        s_eff = (1 - frac) * s_eff + frac * min(model.sliding_window, seq / 2.0)
    heads = model.heads / tp
    if attention == "unfused":
        # each rank's queries (seq / cp) meet the whole sequence's keys
        unfused_core(w, lay.mb * heads, seq / cp * one, seq, d_qk, d_v, layers)
    else:
        w.attn_flops = 2.0 * lay.mb * (seq / cp) * s_eff * heads * (d_qk + d_v) * layers
        kv_heads = (model.heads if model.mla else model.kv_heads) / np.minimum(
            tp, model.kv_heads if not model.mla else tp
        )
        w.attn_bytes = (
            2.0 * lay.mb * (seq / cp) * (heads * (d_qk + d_v) + 2 * kv_heads * d_qk) * layers
        )
        w.attn_kernels = layers
        # query length per attention kernel: with context parallelism each rank holds two of
        # 2 x CP sequence chunks (causal load balance; Llama 3 paper sec. 3.3.2, Megatron-Core's
        # context parallelism) and runs attention per chunk
        w.attn_seq = seq / np.where(cp > 1, 2 * cp, 1) * one

    # --- element-wise (norms, activations, residuals, rope): each stored activation written
    # and read once (Korthikanti's 34 sbh bytes per layer, split by TP with sequence parallelism)
    w.elem_bytes = 2.0 * 34.0 * T * h / tp * layers
    w.elem_kernels = ELEMENTWISE_KERNELS_PER_LAYER * layers + (
        ELEMENTWISE_KERNELS_PER_MOE_LAYER * moe_l if model.moe else 0.0
    )
    if model.moe:
        # token permutation around the experts (copy in, copy out) and the expert activations
        # (gated first projection, activation output), each written and read once, 16-bit; the
        # copy out of the sender's order is balanced, the rest lands on the receiving rank
        per_tok = model.top_k * (h + (h + (up + 1) * model.expert_ffn) * imbalance)
        w.elem_bytes = w.elem_bytes + 2.0 * 2.0 * (T / tp) * per_tok * moe_l

    if precision in ("fp8", "fp4"):
        # Transformer Engine feeds each GEMM an 8-bit (or 4-bit) copy of its operands, row- and
        # column-wise (cast_transpose: read 2 bytes, write 1 + 1 per element). The norms emit
        # the QKV / FC1 inputs already cast and the activation (and its backward) FC2's; the
        # attention output (forward) and the gradients that reach the output projection, FC2
        # and the QKV projections (backward) are cast by kernels of their own.
        if model.mla:  # q, and k (no-rope part) with v, from the low-rank latents
            qkv_out = model.heads * (model.qk_head_dim + model.nope_dim + model.v_dim)
            attn_out = model.heads * model.v_dim
        else:
            qkv_out = (model.heads + 2 * model.kv_heads) * model.head_dim
            attn_out = model.heads * model.head_dim
        w.cast_bytes_fwd = CAST_BYTES * T / tp * attn_out * layers
        w.cast_bytes_bwd = CAST_BYTES * T / tp * (2 * h + qkv_out) * layers

    # --- communication ---------------------------------------------------------------------
    act = 2.0  # bf16 activations on the wire
    tp_bytes = T * h * act
    st = strides(lay, order)
    # 4 TP collectives per layer per direction (AG+RS around attention and MLP with SP,
    # 2 all-reduces without: the same ring volume)
    w.comms.append(Comm("tp", "all_reduce", tp_bytes, tp, st["tp"], 2 * layers, "fwd", "tp"))
    w.comms.append(Comm("tp", "all_reduce", tp_bytes, tp, st["tp"], 2 * layers, "bwd", "tp"))
    if model.moe:
        disp = DTYPE_BYTES.get(precision, 2) if precision in ("fp8", "fp4") else act
        disp = max(disp, 1)
        t_rank = T / tp
        a2a = t_rank * model.top_k * h * imbalance  # what the busiest rank receives
        stride = st["dp"]
        # expert tensor parallelism (ETP innermost): the routed tokens an expert shard needs are
        # gathered from its etp peers and its partial outputs reduce-scattered back
        routed = t_rank * etp * model.top_k * h * act * imbalance
        for phase in ("fwd", "bwd"):
            w.comms.append(
                Comm("ep_dispatch", "all_to_all", a2a * disp, ep, stride, moe_l, phase, "ep")
            )
            w.comms.append(
                Comm("ep_combine", "all_to_all", a2a * act, ep, stride, moe_l, phase, "ep")
            )
            w.comms.append(Comm("etp_gather", "all_gather", routed, etp, one, moe_l, phase, "ep"))
            w.comms.append(
                Comm("etp_scatter", "reduce_scatter", routed, etp, one, moe_l, phase, "ep")
            )
    kv_dim = (model.kv_lora + model.rope_dim) if model.mla else 2 * model.kv_heads * model.head_dim
    cp_bytes = lay.mb * (seq / cp) * kv_dim * act / np.where(model.mla, 1, tp)
    w.comms.append(Comm("cp_kv", "all_gather", cp_bytes * cp, cp, st["cp"], layers, "fwd", "cp"))
    w.comms.append(
        Comm("cp_kv", "all_gather", 2 * cp_bytes * cp, cp, st["cp"], layers, "bwd", "cp")
    )
    pp_bytes = T * h * act / np.where(lay.sp, tp, 1)
    pp_stride = st["pp"]
    # one send per virtual stage (model chunk) and direction
    hops = lay.vpp * (lay.pp > 1)
    w.comms.append(Comm("pp", "p2p", pp_bytes, lay.pp, pp_stride, hops * one, "fwd", "pp"))
    w.comms.append(Comm("pp", "p2p", pp_bytes, lay.pp, pp_stride, hops * one, "bwd", "pp"))
    return w


def stage_params(model: ModelSpec, lay: TrainLayouts):
    """(dense parameters, expert parameters) per chip on the most loaded stage."""
    dense_l, moe_l = stage_layers(model, lay)
    attn = model.attn_params + model.norm_params
    dense = dense_l * (attn + model.dense_mlp_params) + moe_l * (
        attn + model.shared_params + model.router_params
    )
    dense = dense / lay.tp
    # embedding on the first stage, head (or the tied copy) on the last: the larger one counts
    dense = dense + model.vocab * model.hidden / lay.tp
    expert = moe_l * model.experts * model.expert_params / (lay.ep * lay.etp)
    return dense, expert


def dp_comms(
    model: ModelSpec,
    lay: TrainLayouts,
    grad_bytes: float = 4.0,
    order=MEGATRON_ORDER,
    param_bytes: float = 2.0,
) -> list[Comm]:
    """Per-step gradient reduction and parameter gathering over the data-parallel groups."""
    dense, expert = stage_params(model, lay)
    one = np.ones_like(dense)
    out = []
    edp = lay.tp * lay.cp * lay.dp / (lay.ep * lay.etp)
    st = strides(lay, order)
    dp_stride = st["dp"]
    # dense weights are the same on every data- and context-parallel rank: Megatron-Core reduces
    # their gradients (and shards them and the optimizer) over that dp x cp group
    dcp_stride = np.where(lay.cp > 1, np.minimum(st["cp"], dp_stride), dp_stride)
    # expert data parallelism: what is left of the TP x CP x DP ranks outside EP x ETP
    edp_stride = dp_stride * lay.ep * lay.etp / (lay.tp * lay.cp)
    for name, params, group, stride in (
        ("dp", dense, lay.dp * lay.cp, dcp_stride),
        ("edp", expert, edp, np.maximum(edp_stride, 1)),
    ):
        sharded = lay.zero >= 1
        out.append(
            Comm(f"{name}_grads", "all_reduce", params * grad_bytes, group, stride,
                 one * ~sharded, "step", "dp")
        )  # fmt: skip
        out.append(
            Comm(f"{name}_grads", "reduce_scatter", params * grad_bytes, group, stride,
                 one * (sharded & (lay.zero < 3)), "step", "dp")
        )  # fmt: skip
        out.append(
            Comm(f"{name}_params", "all_gather", params * param_bytes, group, stride,
                 one * (sharded & (lay.zero < 3)), "step", "dp")
        )  # fmt: skip
        # ZeRO-3 / FSDP: gather parameters for forward and backward, scatter gradients, per
        # micro-batch (overlapped layer by layer)
        z3 = one * (lay.zero >= 3)
        out.append(
            Comm(
                f"{name}_fsdp_ag",
                "all_gather",
                params * param_bytes,
                group,
                stride,
                2 * z3,
                "fwd",
                "fsdp",
            )
        )
        out.append(
            Comm(
                f"{name}_fsdp_rs",
                "reduce_scatter",
                params * grad_bytes,
                group,
                stride,
                z3,
                "bwd",
                "fsdp",
            )
        )
    return out


def model_flops_per_token(model: ModelSpec, seq: int) -> float:
    """Training model FLOPs per token (PaLM / Megatron convention, no recompute)."""
    attn = (
        6.0
        * model.layers
        * model.heads
        * (model.qk_head_dim + (model.v_dim if model.mla else model.head_dim))
        * seq
    )
    return 6.0 * model.matmul_params_per_token + attn
