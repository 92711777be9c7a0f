"""Chips and parts: datasheet facts, each with its source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from podwright.specs.base import (
    NonNegFloat,
    PositiveFloat,
    PositiveInt,
    Sourced,
    Strict,
)

Dtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"]


class ScaleUpPort(Strict):
    """The chip's scale-up interface: `bw` GB/s one direction over `links` x `lanes_per_link`."""

    protocol: str
    bw: PositiveFloat
    links: PositiveInt
    lanes_per_link: PositiveInt = 1

    @property
    def link_bw(self) -> float:
        """GB/s per link, one direction."""
        return self.bw / self.links

    @property
    def lane_gbps(self) -> float:
        return self.bw * 8 / (self.links * self.lanes_per_link)


class Chip(Sourced):
    name: str
    vendor: str
    description: str = ""
    peak_tflops: dict[Dtype, PositiveFloat]
    hbm_gb: PositiveFloat
    hbm_tbps: PositiveFloat
    scale_up: ScaleUpPort
    scale_out_gbps: PositiveFloat | None = None
    compute_units: PositiveInt | None = None  # SMs / CUs that GEMM tiles are spread over
    # dies the package presents to software as separate devices (each its own rank, with its
    # share of the HBM): serving runs attention data-parallel per die, so each die holds and
    # reads its own copy of the non-expert weights (Ascend 910C: two)
    dies: PositiveInt = 1
    # GB/s one direction between the chip and its host CPU's memory (PCIe, NVLink-C2C); serving
    # engines stream weights that HBM cannot hold over it (None: no offload modelled)
    host_bw: PositiveFloat | None = None
    tdp_w: PositiveFloat | None = None  # None where no source gives it; power then counts 0
    price_usd: PositiveFloat | None = None

    @field_validator("peak_tflops")
    @classmethod
    def _has_a_matmul_dtype(cls, v):
        if not v:
            raise ValueError("needs at least one dtype")
        return v

    def has(self, dtype: str) -> bool:
        return any(d in self.peak_tflops for d in _FALLBACK.get(dtype, (dtype,)))

    def peak(self, dtype: str) -> float:
        """Dense peak TFLOPS for `dtype`; fp16/bf16 share a rate, fp4/fp8 fall back upwards."""
        table = self.peak_tflops
        for d in _FALLBACK.get(dtype, (dtype,)):
            if d in table:
                return table[d]
        from podwright.errors import InputError

        raise InputError("precision", f"chip {self.name} has no {dtype} rate", None)


_FALLBACK = {
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", "int8", "bf16", "fp16"),
    "int8": ("int8", "fp8", "bf16", "fp16"),
    "fp4": ("fp4", "fp8", "int8", "bf16"),
    "tf32": ("tf32", "fp32"),
    "fp32": ("fp32",),
}

PartCategory = Literal[
    "switch_chip", "optical_module", "copper_cable", "nic", "cpu", "rack", "cooling", "ocs"
]


class Part(Sourced):
    """Any bill-of-materials part. Category-specific keys are optional here and checked below."""

    name: str
    category: PartCategory
    vendor: str = ""
    description: str = ""
    power_w: NonNegFloat = 0.0
    price_usd: NonNegFloat | None = None
    # switch_chip
    ports: PositiveInt | None = None
    port_gbps: PositiveFloat | None = None
    lanes_per_port: PositiveInt | None = None
    latency_ns: NonNegFloat | None = None
    in_network_reduction: bool = False
    # optical_module / copper_cable / nic
    gbps: PositiveFloat | None = None
    lanes: PositiveInt | None = None
    kind: str | None = None
    reach_m: PositiveFloat | None = None
    # cpu
    cores: PositiveInt | None = None
    # rack
    power_kw: PositiveFloat | None = None
    units: PositiveInt | None = None
    # cooling
    overhead: float | None = Field(default=None, ge=0, le=2)
    price_usd_per_kw: NonNegFloat | None = None

    def require(self, *keys: str) -> None:
        from podwright.errors import InputError

        for k in keys:
            if getattr(self, k) is None:
                raise InputError(k, f"{self.category} part '{self.name}' needs '{k}'")
