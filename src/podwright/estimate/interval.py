"""Prediction interval: the calibration band widened by the model's measured error."""

from __future__ import annotations

from functools import lru_cache

from podwright.specs.catalog import CATALOG, read_yaml


@lru_cache(maxsize=1)
def model_error() -> dict[str, float]:
    """80th percentile of |predicted / measured - 1| per kind (catalog/model_error.yaml)."""
    kinds = read_yaml(CATALOG / "model_error.yaml", "model_error")["kinds"]
    return {k: float(v["p80_abs_error"]) for k, v in kinds.items()}


def interval(band: dict[str, list[float]], kind: str) -> dict[str, list[float]]:
    """For each banded metric, the values that measurements of it fell in 80% of the time on
    published cases: a measurement m with |p / m - 1| <= e lies in [p / (1 + e), p / (1 - e)],
    applied to the band's low and high ends."""
    e = model_error()[kind]
    # an error of 100% or more leaves no upper bound; cap it so the interval stays finite
    e_hi = min(e, 0.9)
    return {k: [lo / (1.0 + e), hi / (1.0 - e_hi)] for k, (lo, hi) in band.items()}
