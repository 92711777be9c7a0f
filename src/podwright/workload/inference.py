"""Inference as operations: one prefill or decode step of an instance, per chip, for arrays
of (layout, batch) candidates.

An instance of n chips runs attention on tp x attn_dp chips per pipeline stage (attention data
parallelism splits the batch), and the MoE experts on ep x etp chips (etp = n / (pp x ep)).
Decode uses MLA weight absorption (DeepSeek-V2/V3): attention runs on the compressed latent
(kv_lora + rope per token), the KV cache holds only that latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from podwright.specs.catalog import element_bytes
from podwright.workload.model import ModelSpec
from podwright.workload.operations import (
    ELEMENTWISE_KERNELS_PER_LAYER,
    ELEMENTWISE_KERNELS_PER_MOE_LAYER,
    Columns,
    Comm,
    Gemm,
    Work,
    projection_gemms,
)

DTYPE_BYTES = element_bytes()


@dataclass
class InferLayouts(Columns):
    n: np.ndarray  # chips per instance
    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray  # attention data parallel
    ep: np.ndarray
    batch: np.ndarray  # sequences per instance

    @property
    def etp(self) -> np.ndarray:
        return self.n // (self.pp * self.ep)

    def row(self, i: int) -> dict:
        return {
            "instance_chips": int(self.n[i]),
            "parallel": {
                "tp": int(self.tp[i]),
                "pp": int(self.pp[i]),
                "ep": int(self.ep[i]),
                "attn_dp": int(self.dp[i]),
            },
            "batch": int(self.batch[i]),
        }


def kv_bytes_per_token(model: ModelSpec, dtype: str = "bf16") -> float:
    """KV-cache bytes per token over all layers: 2 x kv_heads x head_dim per layer for MHA/GQA,
    kv_lora_rank + rope dim (the compressed latent) per layer for MLA."""
    b = DTYPE_BYTES[dtype]
    if model.mla:
        per_layer = model.kv_lora + model.rope_dim
    else:
        per_layer = 2 * model.kv_heads * model.head_dim
    return float(per_layer * model.layers * b)


def kv_bytes_per_token_per_chip(model: ModelSpec, lay: InferLayouts, ctx, dtype: str) -> np.ndarray:
    """KV bytes one sequence of context `ctx` keeps on each chip of its attention group."""
    b = DTYPE_BYTES[dtype]
    layers = np.ceil(model.layers / lay.pp)
    if model.mla:
        per = (model.kv_lora + model.rope_dim) * b * np.ones_like(lay.tp, dtype=float)
    else:
        split = np.minimum(lay.tp, model.kv_heads)  # KV heads replicate beyond kv_heads
        per = 2 * model.kv_heads * model.head_dim * b / split
    full = np.asarray(ctx, dtype=float)
    if model.sliding_layers and model.sliding_window:
        frac = model.sliding_layers / model.layers
        eff = (1 - frac) * full + frac * np.minimum(full, model.sliding_window)
    else:
        eff = full
    return per * layers * eff


def weights_per_chip(
    model: ModelSpec, lay: InferLayouts, wbytes: float, ebytes: float, dies: int = 1
):
    """(dense bytes, expert bytes) of weights one chip holds; a chip of several dies that
    software sees as devices holds the non-expert weights once per die."""
    per_stage = model.layers / lay.pp
    dense_l = (model.dense_layers if model.moe else model.layers) / lay.pp
    moe_l = model.moe_layers / lay.pp
    attn = model.attn_params + model.norm_params
    dense = per_stage * attn + dense_l * model.dense_mlp_params
    dense = dense + moe_l * (model.shared_params + model.router_params)
    dense = dense / lay.tp + 2 * model.vocab * model.hidden / lay.tp / np.minimum(lay.pp, 2)
    expert = moe_l * np.ceil(model.experts / lay.ep) * model.expert_params / lay.etp
    return dies * dense * wbytes, expert * ebytes


def step_work(
    model: ModelSpec,
    lay: InferLayouts,
    phase: str,
    new_tokens: float,
    context: float,
    kv_dtype: str,
    imbalance: float,
    precision: str,
    dies: int = 1,
) -> Work:
    """One step on the busiest chip of a stage. Decode: every sequence adds `new_tokens` tokens
    (1, or 1 + MTP drafts) attending to `context` tokens; prefill: `new_tokens` prompt tokens
    per sequence after `context` cached ones. On a chip of `dies` devices each die runs the
    non-expert GEMMs for its share of the sequences with its own copy of the weights."""
    h = model.hidden
    b = lay.batch / lay.dp  # sequences on each attention rank
    T = b * new_tokens  # tokens through each attention rank's GEMMs
    per_stage = np.ceil(model.layers / lay.pp)
    dense_l = np.ceil((model.dense_layers if model.moe else model.layers) / lay.pp)
    moe_l = per_stage - dense_l if model.moe else np.zeros_like(per_stage)
    tp = lay.tp
    one = np.ones_like(T, dtype=float)
    w = Work()
    for g in projection_gemms(model, T / dies, tp, per_stage, dense_l, moe_l):
        g.count = g.count * dies
        w.gemms.append(g)
    up = 2 if model.gated else 1
    if model.moe:
        total_tokens = lay.batch * new_tokens  # across the instance
        # EP beyond the expert count (or not dividing it) hosts redundant experts (EPLB)
        local = np.ceil(model.experts / lay.ep)
        # experts that receive at least one token: only their weights are read
        p_hit = 1.0 - (1.0 - model.top_k / model.experts) ** total_tokens
        m_e = (
            total_tokens * model.top_k / (model.experts * p_hit) * imbalance
        )  # tokens per hit expert
        cnt = moe_l * local * p_hit
        for name, n, k in (("expert_up", up * model.expert_ffn / lay.etp, h * one),
                           ("expert_down", h * one, model.expert_ffn / lay.etp)):  # fmt: skip
            w.gemms.append(Gemm(name, m_e, n, k, cnt, "expert", group=local * p_hit))
    # one new token's logits per sequence, on the last stage
    w.gemms.append(Gemm("lm_head", b / dies, model.vocab / tp, h * one, dies * one, "head"))

    # attention core
    heads = model.heads / tp
    if phase == "decode":
        ctx = context + new_tokens / 2.0
        if model.mla:  # absorbed: scores on (kv_lora + rope), values on kv_lora
            dims = (model.kv_lora + model.rope_dim) + model.kv_lora
        else:
            dims = model.qk_head_dim + model.head_dim
        eff_ctx = ctx
        if model.sliding_layers and model.sliding_window:
            frac = model.sliding_layers / model.layers
            eff_ctx = (1 - frac) * ctx + frac * min(ctx, model.sliding_window)
        w.attn_flops = 2.0 * T * eff_ctx * heads * dims * per_stage
        w.attn_bytes = b * kv_bytes_per_token_per_chip(model, lay, eff_ctx, kv_dtype)
    else:
        ctx = context + new_tokens / 2.0  # causal over the new tokens
        d = model.qk_head_dim + (model.v_dim if model.mla else model.head_dim)
        w.attn_flops = 2.0 * T * ctx * heads * d * per_stage
        w.attn_bytes = b * kv_bytes_per_token_per_chip(model, lay, context + new_tokens, kv_dtype)
        w.attn_seq = new_tokens
    w.elem_bytes = 2.0 * 34.0 * T * h / tp * per_stage
    w.attn_kernels = per_stage
    w.elem_kernels = ELEMENTWISE_KERNELS_PER_LAYER * per_stage + (
        ELEMENTWISE_KERNELS_PER_MOE_LAYER * moe_l if model.moe else 0.0
    )

    act = 2.0
    w.comms.append(Comm("tp", "all_reduce", T * h * act, tp, one, 2 * per_stage, "fwd", "tp"))
    if model.moe:
        disp = 1.0 if precision in ("fp8", "fp4", "int8") else act
        # each attention rank's tokens go to the top-k experts and come back; an expert split
        # over etp chips (expert tensor parallelism) needs each of its tokens on all of them
        # and returns etp partial outputs, over the ep x etp chips of the stage
        etp = np.maximum(lay.n / lay.pp / lay.ep, 1)
        pairs = T / tp * model.top_k * h * etp
        group = lay.ep * etp
        w.comms.append(
            Comm("ep_dispatch", "all_to_all", pairs * disp, group, one, moe_l, "fwd", "ep")
        )
        w.comms.append(
            Comm("ep_combine", "all_to_all", pairs * act, group, one, moe_l, "fwd", "ep")
        )
    w.comms.append(
        Comm("pp", "p2p", T * h * act, lay.pp, lay.n / lay.pp, (lay.pp > 1) * one, "fwd", "pp")
    )
    return w
