"""Evaluate one sweep point: the design's BoM, the scenario's prediction, the cost -> one row.

A point with bad input (InputError) gives a row whose `error` column says why; it never stops
the sweep. An unexpected exception is recorded the same way, prefixed "internal error".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from podwright.errors import InputError, from_validation_error
from podwright.search.overrides import Designs, Overrides, scenario_data
from podwright.topology.build import TOTAL_KEYS

# Columns every row has, by workload, in this order after the parameters.
BOM_COLUMNS = TOTAL_KEYS[1:] + (
    "scale_up_optical_modules",
    "scale_out_optical_modules",
    "scale_up_switch_chips",
    "scale_out_switch_chips",
)
COST_COLUMNS = (
    "capex_usd_per_chip",
    "capex_unpriced_parts",  # BoM parts with no sourced price (0: capex complete)
    "usd_per_hour",
    "usd_per_hour_capex",
    "usd_per_hour_energy",
    "usd_per_mtoken",
    "tokens_per_joule",
)
TRAINING_COLUMNS = (
    "step_time_s",
    "tokens_per_s_per_chip",
    "mfu",
    "hfu",
    "tflops_per_chip",
    "memory_gb_per_chip",
    "breakdown_s_compute",
    "breakdown_s_exposed_comm",
    "breakdown_s_pipeline_bubble",
    "breakdown_s_optimizer",
    "step_time_s_low",
    "step_time_s_high",
    "tokens_per_s_per_chip_low",
    "tokens_per_s_per_chip_high",
    "mfu_low",
    "mfu_high",
)
INFERENCE_COLUMNS = (
    "ttft_ms",
    "tpot_ms",
    "batch",
    "prefill_tokens_per_s_per_chip",
    "decode_tokens_per_s_per_chip",
    "memory_gb_per_chip",
)


@dataclass(frozen=True)
class PointContext:
    """What a worker needs to turn (index, params) into a row: small and picklable."""

    sweep_id: str
    base: dict
    workload: str  # training | inference | bom
    params: tuple[tuple[str, str, str], ...]  # (dotted path, column, arrow type name)

    @classmethod
    def of(cls, sweep) -> PointContext:
        return cls(
            sweep_id=sweep.sweep_id,
            base=sweep.base,
            workload=sweep.workload,
            params=tuple((p, c, param_type(sweep, p)) for p, c in sweep.param_columns()),
        )

    def fixed_columns(self) -> list[tuple[str, pa.DataType]]:
        cols = [("id", pa.int64()), ("sweep_id", pa.string())]
        cols += [(c, _ARROW[t]) for _, c, t in self.params]
        taken = {c for c, _ in cols}
        for name, typ in (("system", pa.string()), ("chips", pa.int64())):
            if name not in taken:
                cols.append((name, typ))
        if self.workload != "bom" and "model" not in taken:
            cols.append(("model", pa.string()))
        cols += [("error", pa.string())]
        if self.workload != "bom":
            cols += [("fits", pa.bool_()), ("reason", pa.string()), ("layout", pa.string())]
        metrics = {"training": TRAINING_COLUMNS, "inference": INFERENCE_COLUMNS}.get(
            self.workload, ()
        )
        cols += [(c, pa.float64()) for c in metrics + BOM_COLUMNS + COST_COLUMNS]
        return cols


_ARROW = {
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "json": pa.string(),
}


def param_type(sweep, path: str) -> str:
    """The column type of one axis path, from every value it can take."""
    for a in sweep.axes:
        if path in a.paths:
            if a.values is None:
                return "int" if a.range.int else "float"
            j = a.paths.index(path)
            vals = [v[j] if len(a.paths) > 1 else v for v in a.values]
            if all(isinstance(v, bool) for v in vals):
                return "bool"
            if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
                return "int"
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
                return "float"
            if all(isinstance(v, str) for v in vals):
                return "str"
            return "json"
    raise KeyError(path)


def _cell(value, kind: str):
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    if kind == "float":
        return float(value)
    return value


def _flatten(section: dict) -> dict:
    out = {}
    for k, v in section.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                if isinstance(vv, int | float) and not isinstance(vv, bool):
                    out[f"{k}_{kk}"] = float(vv)
        elif isinstance(v, bool):
            continue
        elif isinstance(v, int | float):
            out[k] = float(v)
    return out


def _prediction_columns(pred: dict) -> dict:
    row: dict = {"fits": bool(pred.get("fits", True)), "reason": pred.get("reason")}
    if "layout" in pred:
        row["layout"] = json.dumps(pred["layout"], sort_keys=True)
    for section in ("training", "inference"):
        if isinstance(pred.get(section), dict):
            row.update(_flatten(pred[section]))
    for key, (lo, hi) in (pred.get("band") or {}).items():
        metric = key.split(".")[-1]
        row[f"{metric}_low"], row[f"{metric}_high"] = float(lo), float(hi)
    return row


def _bom_columns(fabric) -> dict:
    tot = fabric.totals()
    row = {k: float(tot[k]) for k in BOM_COLUMNS if k in tot}
    for tier in ("scale_up", "scale_out"):
        t = fabric.totals(tier)
        row[f"{tier}_optical_modules"] = float(t["optical_modules"])
        row[f"{tier}_switch_chips"] = float(t["switch_chips"])
    return row


def _cost_columns(data: dict, fabric, pred: dict | None) -> dict:
    """$/hour and $/Mtoken from the one cost model (podwright.economics.cost): the prediction's
    own figures where there is one, else the design's $/hour at the scenario's economics."""
    econ = (pred or {}).get("economics")
    if econ is None:
        from pydantic import ValidationError

        from podwright.economics.cost import CostInputs, hourly
        from podwright.specs.scenario import Economics

        try:
            override = Economics.model_validate(data["economics"]) if "economics" in data else None
        except ValidationError as e:
            raise from_validation_error(e, prefix="economics") from None
        econ = hourly(fabric, CostInputs.of(override))
    out = {k: econ.get(k) for k in COST_COLUMNS[2:]}
    out["capex_usd_per_chip"] = econ["capex_usd"] / fabric.chips
    out["capex_unpriced_parts"] = float(len(econ["unpriced_parts"]))
    if pred is not None and not pred.get("fits", True):  # no price for a job that cannot run
        out["usd_per_mtoken"] = out["tokens_per_joule"] = None
    return out


class PointEvaluator:
    """Evaluates points in one process; keeps that process's design cache."""

    def __init__(self, ctx: PointContext):
        self.ctx = ctx
        self.designs = Designs()

    def row(self, index: int, params: dict) -> dict:
        ctx = self.ctx
        row: dict = {"id": index, "sweep_id": ctx.sweep_id}
        for path, col, kind in ctx.params:
            row[col] = _cell(params.get(path), kind)
        try:
            row.update(self._evaluate(params, row))
            row["error"] = None
        except InputError as e:
            row["error"] = str(e)
        except Exception as e:  # a bug must not cost the other points; it is recorded
            row["error"] = f"internal error: {type(e).__name__}: {e}"
        return row

    def _evaluate(self, params: dict, row: dict) -> dict:
        from podwright.topology import build

        ctx = self.ctx
        o = Overrides.split(params)
        data = scenario_data(ctx.base, o.scenario)
        system_name = data.get("system")
        chips = data.get("chips")
        if not isinstance(system_name, str):
            raise InputError("system", f"must name a system (got {system_name!r})")
        row.setdefault("system", system_name)
        row.setdefault("chips", chips if isinstance(chips, int) else None)
        if ctx.workload != "bom":  # the model as named (its varied keys have their own columns)
            model = o.scenario.get("model", ctx.base.get("model"))
            row.setdefault(
                "model", model if isinstance(model, str) else json.dumps(model, sort_keys=True)
            )
        design = self.designs.get(system_name, o)
        fabric = build(design.system, chips, chip=design.chip)
        out = _bom_columns(fabric)
        pred = None
        if ctx.workload != "bom":
            from podwright.economics.cost import add_economics
            from podwright.estimate.predict import fabric_for, predict
            from podwright.specs.scenario import parse_scenario

            if o.design_changed:
                data["system"] = design.name()
            scenario = parse_scenario(data)
            pred = add_economics(scenario, predict(scenario), fabric_for(scenario))
            out.update(_prediction_columns(pred))
        out.update(_cost_columns(data, fabric, pred))
        return out

    def table(self, points: list[tuple[int, dict]]) -> pa.Table:
        rows = [self.row(i, p) for i, p in points]
        return rows_to_table(self.ctx, rows)


def rows_to_table(ctx: PointContext, rows: list[dict]) -> pa.Table:
    """Rows -> Arrow with the sweep's fixed columns first, any further metrics after (float)."""
    fixed = ctx.fixed_columns()
    names = {n for n, _ in fixed}
    extra = sorted({k for r in rows for k in r} - names)
    fields = fixed + [
        (k, pa.string() if any(isinstance(r.get(k), str) for r in rows) else pa.float64())
        for k in extra
    ]
    arrays = [pa.array([r.get(n) for r in rows], type=t) for n, t in fields]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
