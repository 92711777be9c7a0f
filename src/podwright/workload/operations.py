"""Operations: what a model asks of a chip, with no timing. GEMMs with m/n/k, attention with
FLOPs and bytes, element-wise traffic, and collectives with bytes and the group they span."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Unfused memory-bound passes per transformer layer as Megatron-Core / vLLM / SGLang launch them:
# 2 norms, rotary embedding, activation, 2 residual adds (Korthikanti et al. 2022's 34 s*b*h
# activation bytes are spread over these); an MoE layer adds router top-k, permute and unpermute.
ELEMENTWISE_KERNELS_PER_LAYER = 6
ELEMENTWISE_KERNELS_PER_MOE_LAYER = 3


@dataclass
class Gemm:
    name: str
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: np.ndarray  # GEMMs of this shape per micro-batch (per stage, forward)
    cls: str = "dense"  # dense | expert | head (for --explain)

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
    elem_bytes: np.ndarray | float = 0.0  # element-wise HBM traffic, forward
    attn_kernels: np.ndarray | float = 0.0  # attention kernel launches (one per layer)
    elem_kernels: np.ndarray | float = 0.0  # element-wise kernel launches
    comms: list[Comm] = field(default_factory=list)
