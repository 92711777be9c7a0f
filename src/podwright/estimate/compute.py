"""Compute on one chip: roofline per operation with calibrated achieved fractions (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from podwright.estimate.calibration import chip_factors, constants
from podwright.specs import Chip
from podwright.workload.operations import Gemm

LOW_PRECISION = ("fp8", "fp4", "int8")
BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}


@dataclass(frozen=True)
class ComputeModel:
    peak: float  # FLOP/s achieved on large GEMMs at the matmul precision
    attn: float  # FLOP/s achieved by the attention kernels (16-bit)
    hbm: float  # B/s achieved
    in_bytes: float  # bytes per GEMM input element
    units: int = 0  # SMs/CUs; 0 = no wave quantisation
    floor: float = 0.0  # seconds: the least time one kernel takes

    @classmethod
    def of(cls, chip: Chip, precision: str, side: int = 0) -> ComputeModel:
        f = chip_factors(chip.name)
        gemm = f["gemm_fp8_peak_fraction" if precision in LOW_PRECISION else "gemm_peak_fraction"]
        # side -1 = pessimistic (low efficiency), +1 = optimistic
        return cls(
            peak=chip.peak(precision) * 1e12 * gemm.at(side),
            # attention kernels run in 16-bit; a chip whose 16-bit rate is unpublished (MI450X,
            # MI455X) is taken at its matmul precision's rate
            attn=chip.peak("bf16" if chip.has("bf16") else precision)
            * 1e12
            * f["attention_peak_fraction"].at(side),
            hbm=chip.hbm_tbps * 1e12 * f["hbm_bw_fraction"].at(side),
            in_bytes=BYTES[precision],
            units=chip.compute_units or 0,
            floor=constants()["kernel_floor_us"].at(-side) * 1e-6,
        )

    def wave_efficiency(self, m, n) -> np.ndarray:
        """Share of the last wave of output tiles that keeps the SMs busy (NVIDIA, "Matrix
        Multiplication Background User's Guide": tile and wave quantisation), for 128x256
        tiles in the better orientation."""
        if not self.units:
            return np.ones_like(np.asarray(m, dtype=float))
        best = 0.0
        m = np.asarray(m, dtype=float)
        n = np.asarray(n, dtype=float)
        for tm, tn in ((128, 256), (256, 128)):
            # a dimension smaller than the tile gets a tile of its own size (skinny kernels)
            tm_, tn_ = np.minimum(tm, np.maximum(m, 1)), np.minimum(tn, np.maximum(n, 1))
            tiles = np.ceil(m / tm_) * np.ceil(n / tn_)
            waves = np.ceil(tiles / self.units)
            useful = (m * n) / (tm_ * tn_)
            best = np.maximum(best, useful / (waves * self.units))
        return np.clip(best, 1e-3, 1.0)

    def gemm(self, g: Gemm) -> np.ndarray:
        """Seconds for `g.count` GEMMs: the slower of math and memory traffic."""
        math = 2.0 * g.m * g.n * g.k / (self.peak * self.wave_efficiency(g.m, g.n))
        traffic = (g.m * g.k + g.k * g.n) * self.in_bytes + g.m * g.n * 2.0
        return np.maximum(np.maximum(math, traffic / self.hbm), self.floor) * g.count

    def attention(self, flops, nbytes, kernels=0.0) -> np.ndarray:
        t = np.maximum(np.asarray(flops) / self.attn, np.asarray(nbytes) / self.hbm)
        return np.maximum(t, self.floor * np.asarray(kernels))

    def memory(self, nbytes, kernels=0.0) -> np.ndarray:
        t = np.asarray(nbytes, dtype=float) / self.hbm
        return np.maximum(t, self.floor * np.asarray(kernels))
