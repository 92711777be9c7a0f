"""The scenario contract (SCENARIO.md section 1): what to run, on what, how."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from podwright.errors import InputError, from_validation_error
from podwright.specs.base import PositiveFloat, PositiveInt, Strict
from podwright.specs.catalog import read_yaml

Auto = Literal["auto"]
IntOrAuto = PositiveInt | Auto
Precision = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"]


class TrainParallel(Strict):
    tp: IntOrAuto = 1
    pp: IntOrAuto = 1
    dp: IntOrAuto | None = None  # default chips / (tp * pp * cp)
    cp: IntOrAuto = 1
    ep: IntOrAuto = 1
    etp: IntOrAuto = 1
    vpp: IntOrAuto = 1


class Overlap(Strict):
    """Which communication overlaps compute (optional; defaults documented in README)."""

    tp: bool = False  # TP comm overlap (Megatron --tp-comm-overlap; off by default there too)
    dp: bool = True  # gradient reduce / parameter gather under the backward pass
    ep: bool | None = None  # default: on with the dualpipe schedule
    cp: bool = True  # ring attention's KV exchange under the attention compute


class Training(Strict):
    seq_len: PositiveInt
    global_batch: IntOrAuto | None = None
    micro_batch: IntOrAuto = 1
    parallel: TrainParallel = TrainParallel()
    sequence_parallel: bool | None = None  # default: on when tp > 1
    zero: Annotated[int, Field(ge=0, le=3)] | Auto = 1
    recompute: Literal["none", "selective", "full"] | Auto | None = None  # None: least that fits
    schedule: Literal["1f1b", "interleaved", "dualpipe", "gpipe"] | Auto | None = None
    overlap: Overlap = Overlap()
    # optional: rank placement, innermost first (Megatron's order by default)
    placement: tuple[Literal["tp", "cp", "dp", "pp"], ...] = ("tp", "cp", "dp", "pp")
    # optional: the attention core's kernels. "flash": the chip's best published fused kernel
    # (FlashAttention-3, cuDNN, FlashMLA class; causal blocks skipped, no s x s tensor).
    # "flash2": FlashAttention-2 (PyTorch SDPA's flash backend, runs before mid-2024) at its
    # measured rate on the chip. "unfused": Megatron-LM's 2021-22 core attention (batched GEMMs
    # over the full s x s scores, then scale-mask-softmax and dropout in memory).
    attention: Literal["flash", "flash2", "unfused"] = "flash"
    # optional: the precision of the gradient buffer and its reduction (Megatron-Core reduces in
    # fp32 by default; --grad-reduce-in-bf16), and FP8 primary weights (--fp8-param-gather:
    # the weights are kept and gathered in FP8; needs precision fp8 or fp4)
    grad_reduce: Literal["fp32", "bf16"] = "fp32"
    fp8_params: bool = False
    # optional: the optimizer's own state per parameter (Megatron-Core's precision-aware
    # optimizer). optimizer_states: the dtype of Adam's two moments (--exp-avg-dtype,
    # --exp-avg-sq-dtype; fp32 by default; Apex DistributedFusedAdam's dtype). master_params:
    # the fp32 master copy (default), a 16-bit one (--main-params-dtype fp16; Apex's state
    # dtype bf16) or, with 16-bit weights, only the 16 bits of each fp32 master value the
    # weight lacks (store_param_remainders): 2 bytes for all but fp32.
    optimizer_states: Literal["fp32", "bf16", "fp8"] = "fp32"
    master_params: Literal["fp32", "bf16", "fp16", "remainder"] = "fp32"
    # optional: full recompute of only this many layers of each pipeline chunk (Megatron's
    # --recompute-method block --recompute-num-layers N); with recompute: full stated and this
    # left out, every layer is recomputed. When recompute is not stated, the full-recompute
    # candidates recompute the fewest layers per chunk that fit.
    recompute_layers: PositiveInt | None = None
    # optional: what selective recompute drops. "megatron": the attention core (Korthikanti et
    # al., Megatron's --recompute-granularity selective). "op": PyTorch's op-level selective
    # activation checkpointing as torchtitan applies it (selective_ac_option "op"): each dense
    # block keeps its matmul and attention outputs except every second matmul, which is
    # recomputed with the element-wise ops in the backward pass (dense, bias-free models).
    selective_policy: Literal["megatron", "op"] = "megatron"
    # optional: tokens the busiest expert-parallel rank receives over the mean, per micro-batch
    # (1.0: balanced, as Megatron's force-balanced benchmark routing; real routing with an
    # auxiliary loss or DeepSeek-V3's bias balancing runs above 1). All ranks wait for it.
    expert_imbalance: Annotated[float, Field(ge=1)] = 1.0

    @field_validator("placement")
    @classmethod
    def _all_four_axes(cls, v):
        if sorted(v) != ["cp", "dp", "pp", "tp"]:
            raise ValueError("must name tp, cp, dp and pp once each, innermost first")
        return v

    @model_validator(mode="after")
    def _layers_with_full_recompute(self):
        if self.recompute_layers is not None and self.recompute in ("none", "selective"):
            raise ValueError("recompute_layers needs recompute: full (or recompute left out)")
        return self


class Slo(Strict):
    tpot_ms: PositiveFloat | None = None
    ttft_ms: PositiveFloat | None = None


class Mtp(Strict):
    tokens: PositiveInt = 1
    accept_rate: Annotated[float, Field(ge=0, le=1)] = 0.0


class Disaggregated(Strict):
    prefill_chips: PositiveInt
    decode_chips: PositiveInt


class InferParallel(Strict):
    tp: IntOrAuto = 1
    pp: IntOrAuto = 1
    ep: IntOrAuto = 1
    attn_dp: IntOrAuto = 1


class Inference(Strict):
    phase: Literal["prefill", "decode", "serve"] = "serve"
    input_len: PositiveInt = 1024
    output_len: PositiveInt = 1024
    cache_hit: Annotated[float, Field(ge=0, lt=1)] = 0.0
    batch: IntOrAuto = "auto"
    instance_chips: IntOrAuto | None = None
    parallel: InferParallel = InferParallel()
    slo: Slo = Slo()
    mtp: Mtp | None = None
    disaggregated: Disaggregated | None = None
    kv_cache_dtype: Precision | None = None  # optional; default bf16 (engines' "auto")
    # optional: the attention kernels' math precision; fp8 (FlashAttention-3 FP8, TensorRT-LLM's
    # FP8 MLA/MQA) needs an FP8 KV cache; default 16-bit
    attention_precision: Literal["bf16", "fp8"] | None = None
    expert_imbalance: Annotated[float, Field(ge=1)] = 1.0  # optional: busiest expert chip / mean
    # optional: the serving engine's memory policy. engine: a preset of catalog/engines.yaml
    # (generic, vllm, trtllm); the fields below override it. memory_fraction: share of memory the
    # engine fills (of all HBM, or of what weights and activations leave, as the preset says).
    # kv_reservation: "average" = paged KV filled as sequences grow (input + output/2 tokens per
    # sequence on average); "full" = every sequence reserves input + output tokens up front
    # (TensorRT-LLM's GUARANTEED_NO_EVICT scheduler).
    engine: str | None = None
    memory_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    kv_reservation: Literal["average", "full"] | None = None
    # optional, phase serve with attention DP: prompts are synchronised across the ranks
    # (TensorRT-LLM attention_dp_config.enable_balance), so no rank waits for another's prefill
    adp_balance: bool = False


class Economics(Strict):
    life_years: PositiveFloat | None = None
    usd_per_kwh: Annotated[float, Field(ge=0)] | None = None
    # optional: average share of hours the deployment runs at the predicted rate (default 1)
    utilization: Annotated[float, Field(gt=0, le=1)] | None = None


class Scenario(Strict):
    name: str = "scenario"
    system: str
    chips: PositiveInt
    model: str | dict[str, Any]
    precision: Precision = "bf16"
    precision_experts: Precision | None = None
    training: Training | None = None
    inference: Inference | None = None
    economics: Economics | None = None  # optional overrides of catalog/economics.yaml

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, v):
        if isinstance(v, str) and not v.strip():
            raise ValueError("must name a model")
        return v

    @model_validator(mode="after")
    def _one_workload(self):
        if (self.training is None) == (self.inference is None):
            raise ValueError("give exactly one of 'training' or 'inference'")
        return self


def parse_scenario(data: Any, where: str | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise InputError("scenario", "must be a mapping", where)
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(e, where) from None


def apply_sets(data: dict, sets: list[str] | None, only_present: bool = False) -> dict:
    """A copy of scenario `data` with `KEY.PATH=VALUE` overrides applied (VALUE read as YAML),
    for what-if runs. `only_present`: skip an override whose first key the scenario lacks (a
    training override on an inference case)."""
    import copy

    import yaml

    out = copy.deepcopy(data)
    for item in sets or []:
        key, sep, raw = item.partition("=")
        path = [k for k in key.strip().split(".") if k]
        if not sep or not path:
            raise InputError("--set", f"expects KEY.PATH=VALUE (got {item!r})")
        if only_present and len(path) > 1 and path[0] not in out:
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise InputError("--set", f"{key}: value {raw!r} is not valid YAML") from None
        node = out
        for k in path[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[path[-1]] = value
    return out


def load_scenario(path: str | Path, sets: list[str] | None = None) -> Scenario:
    path = Path(path)
    if not path.is_file():
        raise InputError("scenario", f"no such file '{path}'")
    data = read_yaml(path, "scenario")
    if sets:
        if not isinstance(data, dict):
            raise InputError("scenario", "must be a mapping", str(path))
        data = apply_sets(data, sets)
    return parse_scenario(data, str(path))
