"""Calibration factors (achieved / peak) per chip, with fallbacks and low/high bands."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

from podwright.specs.catalog import CATALOG, catalog_names, load_calibration, read_yaml

FACTORS = (
    "gemm_peak_fraction",
    "gemm_fp8_peak_fraction",
    "hbm_bw_fraction",
    "attention_peak_fraction",
    "scale_up_busbw_fraction",
    "scale_out_busbw_fraction",
)
# Optional factors: where a chip has no measurement they fall back to a rule of their own, not
# to other chips' median (see chip_factors).
OPTIONAL = (
    "scale_up_a2a_fraction",
    "decode_attention_bw_fraction",
    "grouped_gemm_bw_fraction",
    "gemm_fp4_peak_fraction",
    "attention_fa2_peak_fraction",
    "gemm_overlap_norm",
)


@dataclass(frozen=True)
class Factor:
    name: str
    value: float
    uncertainty: float  # absolute half-width of the band
    source: str
    at_seq: float = 0.0  # attention factors: sequence length of the measurement (0: not stated)

    def at(self, side: int) -> float:
        """side 0: value; -1: low; +1: high."""
        return self.value + side * self.uncertainty


@lru_cache(maxsize=1)
def constants() -> dict[str, Factor]:
    data = read_yaml(CATALOG / "calibration" / "defaults.yaml", "calibration") or {}
    return {
        k: Factor(k, float(v["value"]), float(v["uncertainty"]), v["source"])
        for k, v in (data.get("constants") or {}).items()
    }


@lru_cache(maxsize=1)
def _measured() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for chip in catalog_names("calibration"):
        if chip == "defaults":
            continue
        for name, f in load_calibration(chip).items():
            if "borrowed_from" not in f:  # only measurements make the median
                out.setdefault(name, {})[chip] = float(f["value"])
    return out


def _own(name: str, f: dict) -> Factor:
    """A chip's own measurement (its `uncertainty` is relative to the value)."""
    unc = float(f.get("uncertainty", 0.1)) * float(f["value"])
    return Factor(name, float(f["value"]), unc, str(f.get("source", "")), float(f.get("at_seq", 0)))


@lru_cache(maxsize=64)
def chip_factors(chip: str) -> dict[str, Factor]:
    """Every factor for `chip`: its own measurement, else the median of the other chips."""
    own = load_calibration(chip)
    widen = constants()["fallback_widening"].value
    out: dict[str, Factor] = {}
    for name in FACTORS:
        if name in own:
            f = own[name]
            out[name] = _own(name, f)
            continue
        values = sorted(_measured().get(name, {}).values())
        if name == "gemm_fp8_peak_fraction" and not values:
            values = sorted(_measured().get("gemm_peak_fraction", {}).values())
        med = statistics.median(values)
        spread = (values[-1] - values[0]) / 2 if len(values) > 1 else 0.1 * med
        out[name] = Factor(
            name,
            med,
            max(spread, 0.1 * med) * widen,
            f"fallback: median of {len(values)} chips' measurements ({name}); no {chip} figure",
        )
    for name in OPTIONAL:
        if name in own:
            out[name] = _own(name, own[name])
    if "gemm_fp8_peak_fraction" not in own and "gemm_peak_fraction" in own:
        # a chip without an FP8 measurement runs FP8 GEMMs at its BF16 efficiency
        f = out["gemm_peak_fraction"]
        out["gemm_fp8_peak_fraction"] = Factor(
            "gemm_fp8_peak_fraction", f.value, f.uncertainty * widen, f"as bf16: {f.source}"
        )
    return out


@lru_cache(maxsize=64)
def allreduce_ramp(chip: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(log message bytes, busbw / largest busbw) of the chip's measured NCCL all-reduce sweep
    inside its scale-up domain (catalog/measurements/allreduce_ramp.yaml); empty if none."""
    path = CATALOG / "measurements" / "allreduce_ramp.yaml"
    data = read_yaml(path, "allreduce_ramp") or {}
    for curve in (data.get("curves") or {}).values():
        if chip in curve.get("chips", ()):
            pts = sorted((float(s), float(b)) for s, b in curve["busbw_gbs"].items())
            top = max(b for _, b in pts)
            return tuple(math.log(s) for s, _ in pts), tuple(b / top for _, b in pts)
    return (), ()
