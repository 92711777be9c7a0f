"""Human-readable prediction output for the CLI."""

from __future__ import annotations

from rich.console import Console

from podwright.report.tables import fmt, table


def _span(lo_hi) -> str:
    return f"{fmt(lo_hi[0])} .. {fmt(lo_hi[1])}" if lo_hi else ""


def print_prediction(console: Console, p: dict) -> None:
    band, span = p.get("band", {}), p.get("interval", {})
    for phase in ("training", "inference"):
        body = p.get(phase)
        if not body:
            continue
        rows = []
        for k, v in body.items():
            if isinstance(v, dict):
                continue
            key = f"{phase}.{k}"
            rows.append([k, v, _span(band.get(key)), _span(span.get(key))])
        columns = ["metric", "value", "band", "80% interval"]
        console.print(table(f"{p['scenario']}: {phase}", columns, rows))
        for k, v in body.items():
            if isinstance(v, dict):
                console.print(table(k, ["", "value"], [[a, b] for a, b in v.items()]))
    if not p.get("fits", True):
        reason = p.get("reason", "")
        label = (
            "misses the SLO" if "SLO" in reason and "do not fit" not in reason else "does not fit"
        )
        console.print(f"[bold red]{label}:[/bold red] {reason}")
    if "layout" in p:
        console.print(f"layout: {p['layout']}")
    if "economics" in p:
        console.print(
            table("economics", ["", "value"], [[a, b] for a, b in p["economics"].items()])
        )
    ex = p.get("explain")
    if not ex:
        return
    if "time_by_class_s" in ex:
        rows = [[k, v] for k, v in ex["time_by_class_s"].items()]
        console.print(table("time by operation class (s per step)", ["class", "s"], rows))
    if "step_s_per_stage" in ex:
        rows = [[k, v] for k, v in ex["step_s_per_stage"].items()]
        title = f"step time per pipeline stage (s), {ex['stages']} stage(s)"
        console.print(table(title, ["part", "s"], rows))
    if "tpot_split_s" in ex:
        rows = [[k, v] for k, v in ex["tpot_split_s"].items()]
        title = "effective TPOT, split (s per output token)"
        console.print(table(title, ["part", "s"], rows))
    if "comm_total_s" in ex:
        rows = [[k, v, ex["comm_exposed_s"].get(k)] for k, v in ex["comm_total_s"].items()]
        console.print(table("communication per step (s)", ["class", "total", "exposed"], rows))
    if ex.get("collectives"):
        cols = ["name", "kind", "phase", "group", "stride", "fabric", "bytes", "seconds_each"]
        if "seconds_each_sim" in ex["collectives"][0]:
            cols.append("seconds_each_sim")
        rows = [[c[k] for k in cols] for c in ex["collectives"]]
        console.print(table("collectives and the fabric level they use", cols, rows, right_from=3))
    for key in ("decode_step_s", "batch_bound"):
        if key in ex:
            console.print(f"{key}: {ex[key]}")
