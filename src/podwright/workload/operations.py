"""Operations: what a model asks of a chip, with no timing. GEMMs with m/n/k, attention with
FLOPs and bytes, element-wise traffic, and collectives with bytes and the group they span."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

# Unfused memory-bound passes per transformer layer as Megatron-Core / vLLM / SGLang launch them:
# 2 norms, rotary embedding, activation, 2 residual adds (Korthikanti et al. 2022's 34 s*b*h
# activation bytes are spread over these); an MoE layer adds router top-k, permute and unpermute.
ELEMENTWISE_KERNELS_PER_LAYER = 6
ELEMENTWISE_KERNELS_PER_MOE_LAYER = 3


class Columns:
    """A dataclass of equally long numpy arrays: N candidates (layouts), one entry each."""

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))

    def take(self, idx):
        """The candidates at `idx` (indices or a boolean mask), as the same type."""
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def concat(self, other):
        """These candidates followed by `other`'s, as the same type."""
        return type(self)(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
               for f in fields(self)}
        )  # fmt: skip


@dataclass
class Gemm:
    name: str
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: np.ndarray  # GEMMs of this shape per micro-batch (per stage, forward)
    cls: str = "dense"  # dense | expert | head (for --explain)
    # GEMMs launched together as one grouped kernel (the local experts of an MoE layer): their
    # output tiles share the waves over the SMs and they pay one kernel floor
    group: np.ndarray | float = 1.0

    @property
    def flops(self) -> np.ndarray:
        return 2.0 * self.m * self.n * self.k * self.count


@dataclass
class Comm:
    name: str
    kind: str  # all_reduce | reduce_scatter | all_gather | all_to_all | p2p
    nbytes: np.ndarray
    group: np.ndarray
    stride: np.ndarray
    count: np.ndarray  # per micro-batch (phase fwd/bwd) or per step (phase step)
    phase: str  # fwd | bwd | step
    overlap: str  # tp | ep | cp | dp | pp | fsdp


@dataclass
class Work:
    """All operations of one micro-batch on the slowest pipeline stage, plus per-step ones."""

    gemms: list[Gemm] = field(default_factory=list)
    attn_flops: np.ndarray | float = 0.0  # executed (causal) attention-core FLOPs, forward
    attn_bytes: np.ndarray | float = 0.0
    attn_seq: np.ndarray | float = 0.0  # query length of one sequence per kernel (0: decode)
    elem_bytes: np.ndarray | float = 0.0  # element-wise HBM traffic, forward
    attn_kernels: np.ndarray | float = 0.0  # attention kernel launches (one per layer)
    elem_kernels: np.ndarray | float = 0.0  # element-wise kernel launches
    # FP8/FP4 training: casts of GEMM operands that no other kernel produces (forward, backward)
    cast_bytes_fwd: np.ndarray | float = 0.0
    cast_bytes_bwd: np.ndarray | float = 0.0
    # unfused attention core: its batched GEMMs (forward) and its s x s element-wise traffic
    core_gemms: list[Gemm] = field(default_factory=list)
    core_bytes_fwd: np.ndarray | float = 0.0
    core_bytes_bwd: np.ndarray | float = 0.0
    comms: list[Comm] = field(default_factory=list)


def projection_gemms(model, T, tp, layers, dense_l, moe_l) -> list[Gemm]:
    """The GEMMs of every layer that a token meets whatever its routing: attention projections
    (MLA's low-rank ones or Q/K/V/O), the dense MLP of dense layers, and the router and shared
    experts of MoE layers. T tokens per GEMM; N-dimensions split over `tp`."""
    h = model.hidden
    one = np.ones_like(T, dtype=float)
    out = []
    if model.mla:
        qk = model.heads * model.qk_head_dim
        if model.q_lora:
            out.append(Gemm("q_down", T, model.q_lora * one, h * one, layers))
            out.append(Gemm("q_up", T, qk / tp, model.q_lora * one, layers))
        else:
            out.append(Gemm("q_proj", T, qk / tp, h * one, layers))
        out.append(Gemm("kv_down", T, (model.kv_lora + model.rope_dim) * one, h * one, layers))
        kv_up = model.heads * (model.nope_dim + model.v_dim)
        out.append(Gemm("kv_up", T, kv_up / tp, model.kv_lora * one, layers))
        out.append(Gemm("attn_out", T, h * one, model.heads * model.v_dim / tp, layers))
    else:
        qkv = (model.heads + 2 * model.kv_heads) * model.head_dim
        out.append(Gemm("qkv_proj", T, qkv / tp, h * one, layers))
        out.append(Gemm("attn_out", T, h * one, model.heads * model.head_dim / tp, layers))
    up = 2 if model.gated else 1
    out.append(Gemm("mlp_up", T, up * model.ffn / tp, h * one, dense_l))
    out.append(Gemm("mlp_down", T, h * one, model.ffn / tp, dense_l))
    if model.moe:
        out.append(Gemm("router", T, model.experts * one, h * one, moe_l))
        if model.shared_ffn:
            out.append(Gemm("shared_up", T, up * model.shared_ffn / tp, h * one, moe_l))
            out.append(Gemm("shared_down", T, h * one, model.shared_ffn / tp, moe_l))
    return out
