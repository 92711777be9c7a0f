"""Memory per chip for training: weights, gradients, optimizer states (by ZeRO stage),
activations (Korthikanti et al. 2022, as in Megatron's theoretical_memory_usage.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from podwright.workload.layout import RECOMPUTE, SCHEDULES, TrainLayouts
from podwright.workload.model import ModelSpec
from podwright.workload.training import chunk_share, op_sac_blocks, stage_layers, stage_params


def activation_bytes_per_layer(
    model: ModelSpec,
    seq: int,
    mb,
    recompute,
    precision: str = "bf16",
    attention: str = "flash",
    selective: str = "megatron",
    imbalance: float = 1.0,
) -> np.ndarray:
    """Bytes one layer keeps for the backward pass, before TP/CP division.

    Megatron: s*b*h*(18 + 4*ffn/h) (attention core recomputed or FlashAttention); full
    recompute keeps the layer input, 2*s*b*h. MoE layers use the FFN width a token sees
    (top-k experts + shared). As in Megatron's formula, a gated MLP is not counted wider.
    In FP8 training Transformer Engine keeps the FP8 copies of the four linear layers' inputs
    (QKV, projection, FC1: s*b*h each; FC2: s*b*ffn) for the weight gradients, one byte
    instead of two. The unfused attention core keeps its s x s tensors when nothing is recomputed
    (Korthikanti's 5*a*s^2*b: softmax output, dropout mask and dropout output). With
    `selective` "op" a selectively recomputed layer keeps what torchtitan's op-level policy saves
    (workload.training.op_sac_blocks), two bytes an element. The busiest expert-parallel rank
    holds `imbalance` times the mean routed tokens."""
    h = model.hidden
    routed = model.top_k * model.expert_ffn * imbalance
    ffn = (routed + model.shared_ffn) if model.moe else model.ffn
    per = seq * mb * h * (18.0 + 4.0 * ffn / h)
    if precision in ("fp8", "fp4"):
        per = per - seq * mb * h * (3.0 + ffn / h)
    full = RECOMPUTE.index("full")
    if attention == "unfused":
        none = recompute == RECOMPUTE.index("none")
        per = per + np.where(none, 5.0 * model.heads * seq**2 * mb, 0.0)
    if selective == "op":
        kept = 2.0 * seq * mb * op_sac_blocks(model)[1]
        per = np.where(recompute == RECOMPUTE.index("selective"), kept, per)
    return np.where(recompute == full, 2.0 * seq * mb * h, per)


def in_flight(model: ModelSpec, lay: TrainLayouts) -> np.ndarray:
    """Micro-batches whose activations the first stage holds at once (interleaving adds
    (PP - 1) warm-up chunks, each the largest virtual chunk's share of the stage)."""
    m = lay.microbatches
    pp = lay.pp
    base = np.minimum(pp, m).astype(float)
    inter = base * (1 + (pp - 1) * chunk_share(model, lay) / pp)
    gpipe = m.astype(float)
    dual = np.minimum(pp + 1, m).astype(float)
    s = lay.schedule
    return np.select(
        [
            s == SCHEDULES.index("interleaved"),
            s == SCHEDULES.index("gpipe"),
            s == SCHEDULES.index("dualpipe"),
        ],
        [inter, gpipe, dual],
        base,
    )


@dataclass(frozen=True)
class StateBytes:
    """Bytes per parameter of the weights, the gradient buffer and the optimizer's state:
    Megatron-Core keeps 16-bit weights, reduces gradients in fp32 and holds an fp32 master copy
    and Adam's two fp32 moments (4 + 2 x 4 bytes) by default; `--fp8-param-gather` keeps the
    weights in FP8 (1 byte), `--grad-reduce-in-bf16` the gradients in 16-bit (2 bytes), and the
    precision-aware optimizer shrinks the master copy and the moments."""

    grad: float = 4.0
    param: float = 2.0
    optimizer: float = 12.0

    @property
    def optimizer_step(self) -> float:
        """Bytes one Adam step moves per parameter: it reads the optimizer state and the
        gradient and writes the state back with the new weight."""
        return 2.0 * self.optimizer + self.grad + self.param


def state_memory(
    model: ModelSpec, lay: TrainLayouts, sb: StateBytes | None = None
) -> dict[str, np.ndarray]:
    """Weights, gradients and optimizer states per chip on the most loaded stage (bytes):
    16-bit (or FP8) weights, fp32 (or 16-bit) gradients, fp32 master copy + Adam moments,
    sharded by ZeRO stage over the ranks that hold the same weights - data parallel x context
    parallel for dense weights (Megatron-Core's distributed optimizer shards over its dp_cp
    group), the expert-data-parallel ranks for experts."""
    sb = sb or StateBytes()
    dense, expert = stage_params(model, lay)
    edp = lay.tp * lay.cp * lay.dp / (lay.ep * lay.etp)
    ddp = lay.dp * lay.cp
    z = lay.zero
    weights = sb.param * (
        np.where(z >= 3, dense / ddp, dense) + np.where(z >= 3, expert / edp, expert)
    )
    # DualPipe keeps two copies of the parameters (DeepSeek-V3 report, section 3.2.1)
    weights = np.where(lay.schedule == SCHEDULES.index("dualpipe"), 2 * weights, weights)
    grads = sb.grad * (
        np.where(z >= 2, dense / ddp, dense) + np.where(z >= 2, expert / edp, expert)
    )
    optim = sb.optimizer * (
        np.where(z >= 1, dense / ddp, dense) + np.where(z >= 1, expert / edp, expert)
    )
    return {"weights": weights, "gradients": grads, "optimizer": optim}


def activation_parts(
    model: ModelSpec,
    lay: TrainLayouts,
    seq: int,
    precision: str = "bf16",
    attention: str = "flash",
    selective: str = "megatron",
    imbalance: float = 1.0,
):
    """(bytes one in-flight micro-batch keeps on the first stage, bytes of the output layer's
    logits and loss on the last stage when there is no pipeline)."""
    dense_l, moe_l = stage_layers(model, lay)
    per_layer = activation_bytes_per_layer(
        model, seq, lay.mb, lay.recompute, precision, attention, selective, imbalance
    ) / (lay.tp * lay.cp)
    # logits and loss of the output layer on the last stage (fp32), vocabulary-parallel
    logits = 4.0 * seq * lay.mb * model.vocab / (lay.tp * lay.cp)
    return per_layer * (dense_l + moe_l), np.where(lay.pp == 1, logits, 0.0)


def activation_memory(model: ModelSpec, lay: TrainLayouts, seq: int) -> np.ndarray:
    per_mb, logits = activation_parts(model, lay, seq)
    return per_mb * in_flight(model, lay) + logits


def training_memory(model: ModelSpec, lay: TrainLayouts, seq: int) -> dict[str, np.ndarray]:
    """Bytes per chip on the most loaded stage, by component."""
    return state_memory(model, lay) | {"activations": activation_memory(model, lay, seq)}
