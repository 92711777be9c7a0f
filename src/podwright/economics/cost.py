"""$/hour of a system, $/million tokens and tokens per joule of a prediction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from podwright.specs.catalog import CATALOG, read_yaml
from podwright.topology import Fabric

HOURS_PER_YEAR = 8766.0


@lru_cache(maxsize=1)
def defaults() -> dict:
    data = read_yaml(CATALOG / "economics.yaml", "economics") or {}
    return {k: v["value"] for k, v in data.items()}


@dataclass(frozen=True)
class CostInputs:
    life_years: float
    usd_per_kwh: float
    utilization: float = 1.0  # average share of hours at the predicted rate

    @classmethod
    def of(cls, override=None) -> CostInputs:
        d = dict(defaults())
        if override is not None:
            d.update({k: v for k, v in override.model_dump().items() if v is not None})
        return cls(
            life_years=float(d["life_years"]),
            usd_per_kwh=float(d["usd_per_kwh"]),
            utilization=float(d.get("utilization", 1.0)),
        )


def hourly(fabric: Fabric, inputs: CostInputs) -> dict:
    """Capex amortised linearly over the life, plus energy at the all-in power (cooling
    overhead of the system's cooling part included, so no separate PUE). Parts the catalog has
    no sourced price for are left out of the capex and named in `unpriced_parts`; with any,
    `capex_complete` is false and $/hour and $/Mtoken are lower bounds."""
    capex = sum(i.cost_usd for i in fabric.items)
    power_kw = sum(i.power_w for i in fabric.items) / 1000
    capex_h = capex / (inputs.life_years * HOURS_PER_YEAR)
    energy_h = power_kw * inputs.usd_per_kwh
    return {
        "capex_usd": capex,
        "life_years": inputs.life_years,
        "usd_per_kwh": inputs.usd_per_kwh,
        "utilization": inputs.utilization,
        "power_kw": power_kw,
        "usd_per_hour": capex_h + energy_h,
        "usd_per_hour_capex": capex_h,
        "usd_per_hour_energy": energy_h,
        "capex_complete": not fabric.unpriced_parts(),
        "unpriced_parts": fabric.unpriced_parts(),
    }


def usd_per_mtoken(usd_per_hour: float, tokens_per_s: float, utilization: float = 1.0) -> float:
    """$ per million tokens of a deployment paid for every hour and producing `tokens_per_s`
    for `utilization` of them."""
    return usd_per_hour / (tokens_per_s * utilization * 3600) * 1e6


def per_token(cost: dict, tokens_per_s: float) -> dict:
    """$/Mtoken and tokens per joule at `tokens_per_s` while busy, for the cost's utilization:
    capex and energy (at the all-in power) every hour, tokens in the busy share of them."""
    out = dict(cost)
    util = cost.get("utilization", 1.0)
    if tokens_per_s > 0:
        out["usd_per_mtoken"] = usd_per_mtoken(cost["usd_per_hour"], tokens_per_s, util)
        out["tokens_per_joule"] = (
            tokens_per_s * util / (cost["power_kw"] * 1000) if cost["power_kw"] else None
        )
    return out


def scenario_cost(scenario, fabric: Fabric, tokens_per_s_per_chip: float | None) -> dict:
    """$/hour of the chips a scenario uses, and $/Mtoken at the given rate. A job on part of a
    node (fabric rounded up to whole nodes) pays its share."""
    cost = hourly(fabric, CostInputs.of(scenario.economics))
    share = scenario.chips / fabric.chips
    scaled = ("capex_usd", "power_kw", "usd_per_hour", "usd_per_hour_capex", "usd_per_hour_energy")
    cost = {k: v * share if k in scaled else v for k, v in cost.items()}
    return per_token(cost, (tokens_per_s_per_chip or 0.0) * scenario.chips)


def rate_of(prediction: dict) -> float | None:
    """The token rate a prediction's cost is quoted per: training tokens, output tokens in
    decode/serve, prompt tokens in prefill."""
    if "training" in prediction:
        return prediction["training"]["tokens_per_s_per_chip"]
    inf = prediction.get("inference", {})
    return inf.get("decode_tokens_per_s_per_chip") or inf.get("prefill_tokens_per_s_per_chip")


def add_economics(scenario, prediction: dict, fabric: Fabric) -> dict:
    """The prediction with its `economics` object (SCENARIO.md section 2, optional key)."""
    return prediction | {"economics": scenario_cost(scenario, fabric, rate_of(prediction))}
