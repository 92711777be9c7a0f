"""The serving simulation against published throughput-latency curves
(examples/heldout/serving/*.yaml): each file holds one deployment's scenario and the measured
TTFT, inter-token latency and output throughput at several client concurrencies; the simulation
runs a closed loop of that many clients for each point."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from podwright.sim.serving import serving_costs, simulate
from podwright.specs.catalog import read_yaml
from podwright.specs.scenario import parse_scenario

METRICS = (("ttft_ms", "ttft_ms"), ("itl_ms", "tpot_ms"), ("output_tokens_per_s", "throughput"))


def serving_errors(paths) -> list[dict]:
    """One row per published load point: measured and simulated TTFT (mean), inter-token
    latency (the simulation's mean TPOT) and output tokens/s of the whole deployment."""
    rows = []
    for path in paths:
        doc = read_yaml(Path(path), "path")
        s = parse_scenario(doc["scenario"])
        costs = serving_costs(s)
        for p in doc["points"]:
            r = simulate(costs, s.inference, 0.0, seed=0, lengths=doc.get("lengths", "fixed"),
                         concurrency=int(p["concurrency"]))  # fmt: skip
            sim = {"ttft_ms": r["ttft_ms"]["mean"], "tpot_ms": r["tpot_ms"]["mean"],
                   "throughput": r["output_tokens_per_s_per_chip"] * costs.chips}  # fmt: skip
            meas = {key: float(p[field]) for field, key in METRICS if field in p}
            rows.append({
                "file": Path(path).name, "scenario": s.name, "concurrency": int(p["concurrency"]),
                "measured": meas, "simulated": {k: sim[k] for k in meas},
                "error": {k: sim[k] / v - 1.0 for k, v in meas.items()},
            })  # fmt: skip
    return rows


def summary(rows: list[dict]) -> dict[str, float]:
    """Median |error| per metric over all points."""
    keys = {k for r in rows for k in r["error"]}
    return {k: float(np.median([abs(r["error"][k]) for r in rows if k in r["error"]]))
            for k in sorted(keys)}  # fmt: skip


def validation_rows(path) -> list[dict]:
    """`serving_errors` as `podwright validate` rows: one per load point and metric."""
    rows = []
    for r in serving_errors([path]):
        for key, meas in r["measured"].items():
            rows.append({
                "id": f"{r['scenario']}/c{r['concurrency']}/{key}", "metric": f"serve_sim.{key}",
                "predicted": r["simulated"][key], "measured": meas, "error": r["error"][key],
            })  # fmt: skip
    return rows
