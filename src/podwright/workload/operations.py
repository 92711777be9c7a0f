"""Operations: what a model asks of a chip, with no timing. GEMMs with m/n/k, attention with
FLOPs and bytes, element-wise traffic, and collectives with bytes and the group they span."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    comms: list[Comm] = field(default_factory=list)
