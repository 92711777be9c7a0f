"""Design-space sweeps: vary system, chip, part and workload parameters around a base scenario,
evaluate every point (BoM, prediction, cost), and write the rows to Parquet chunk by chunk.

    sweep = load_sweep("sweep.yaml")
    summary = run_sweep(sweep, "sweep-results", executor="local", workers=8)

A rerun with the same sweep file and results folder evaluates only the points not yet written,
so a sweep killed at any moment loses at most the chunks in flight and recomputes nothing done.
"""

from __future__ import annotations

import math
import time
import typing
from pathlib import Path

import numpy as np

from podwright.errors import InputError
from podwright.search.executors import check_executor, make_executor
from podwright.search.point import PointContext
from podwright.search.results import ResultStore
from podwright.search.sweep_spec import Sweep, load_sweep, parse_sweep

__all__ = ["Sweep", "check_axes", "default_out", "load_sweep", "parse_sweep", "run_sweep"]


def default_out(sweep_file: str | Path) -> Path:
    """`sweeps/h100.yaml` -> `sweeps/h100-results/`."""
    p = Path(sweep_file)
    return p.with_name(f"{p.stem}-results")


def _model_of(annotation):
    """The pydantic model class inside an annotation (X, X | None, ...), or None."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _check_scenario_path(path: str, where: str, workload: str) -> None:
    from podwright.specs.scenario import Scenario

    keys = path.split(".")
    if workload == "bom" and keys[0] not in ("system", "chips", "economics"):
        raise InputError(
            where,
            "the base scenario has no training or inference section, so this sweep is BoM only: "
            "it varies system, chips, economics.*, system.*, chip.* and part.* paths",
        )
    if keys[0] in ("training", "inference") and keys[0] != workload:
        raise InputError(where, f"the base scenario has no '{keys[0]}' section")
    model = Scenario
    for key in keys:
        if model is None:
            return  # inside a free mapping (an inline model, a dict): any key goes
        if key not in model.model_fields:
            known = ", ".join(model.model_fields)
            raise InputError(where, f"unknown field '{key}' (known: {known})")
        model = _model_of(model.model_fields[key].annotation)


def _check_dump_path(data, rest: str, where: str) -> None:
    node = data
    for key in rest.split("."):
        if isinstance(node, dict):
            if key not in node:
                raise InputError(where, f"unknown field '{key}' (known: {', '.join(node)})")
            node = node[key]
        else:
            return  # a list or an unset optional: the value decides, per point


def check_axes(sweep: Sweep) -> None:
    """Fail fast on axis paths that name no field (one point's bad value is only that point's)."""
    from podwright.specs import load_chip, load_part, load_system

    systems = {sweep.base["system"]}
    for a in sweep.axes:
        if "system" in a.paths and a.values is not None:
            j = a.paths.index("system")
            systems = {v[j] if len(a.paths) > 1 else v for v in a.values}
    for a in sweep.axes:
        for path in a.paths:
            where = f"axes.{path}"
            head, _, rest = path.partition(".")
            if head == "system" and rest:
                for name in systems:
                    if isinstance(name, str):
                        _check_dump_path(load_system(name).model_dump(), rest, where)
            elif head == "chip" and rest:
                for name in systems:
                    if isinstance(name, str):
                        chip = load_chip(load_system(name).chip)
                        _check_dump_path(chip.model_dump(), rest, where)
            elif head == "part" and rest:
                part_name, _, field = rest.partition(".")
                try:
                    part = load_part(part_name)
                except InputError as e:
                    raise InputError(where, e.reason) from None
                _check_dump_path(part.model_dump(), field, where)
            else:
                _check_scenario_path(path, where, sweep.workload)


def auto_chunk_size(pending: int, workers: int) -> int:
    """About 8 chunks per worker, 8 to 2,000 points each."""
    return int(min(2000, max(8, math.ceil(pending / (workers * 8)))))


def _progress(console, disable: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
    )


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    console=None,
) -> dict:
    """Evaluate every point of `sweep` not yet in `out`; return a summary."""
    check_axes(sweep)
    check_executor(executor, workers, address)
    if chunk_size is not None and chunk_size < 1:
        raise InputError("chunk_size", f"must be at least 1 (got {chunk_size})")
    ctx = PointContext.of(sweep)
    store = ResultStore(out, sweep.sweep_id, sweep.name, sweep.n, sweep.canonical())
    done = store.open()
    pending = np.arange(sweep.n, dtype=np.int64)
    if done:
        pending = np.setdiff1d(pending, np.fromiter(done, dtype=np.int64, count=len(done)))
    t0 = time.perf_counter()
    evaluated = errors = 0
    label = "nothing to do"
    startup = 0.0
    if len(pending):
        ex = make_executor(executor, ctx, workers, address)
        label = ex.label
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        size = chunk_size or sweep.chunk_size or auto_chunk_size(len(pending), ex.workers)
        chunks = iter(range(0, len(pending), size))
        inflight: dict = {}

        def fill():
            while len(inflight) < 2 * ex.workers:
                start = next(chunks, None)
                if start is None:
                    return
                idx = pending[start : start + size]
                inflight[ex.submit(sweep.points(idx))] = len(idx)

        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        try:
            with _progress(console, not progress) as bar:
                task = bar.add_task(sweep.name, total=sweep.n, completed=len(done), rate="")
                fill()
                while inflight:
                    for handle, table in ex.wait(list(inflight)):
                        inflight.pop(handle)
                        store.write_chunk(table)
                        evaluated += table.num_rows
                        errors += table.num_rows - table.column("error").null_count
                        rate = evaluated / max(time.perf_counter() - t0, 1e-9)
                        bar.update(task, advance=table.num_rows, rate=f"{rate:,.0f} points/s")
                    fill()
        finally:
            ex.shutdown()
    store.write_manifest(force=True)
    seconds = time.perf_counter() - t0
    return {
        "sweep_id": sweep.sweep_id,
        "name": sweep.name,
        "points": sweep.n,
        "already_done": len(done),
        "evaluated": evaluated,
        "errors": errors,
        "seconds": seconds,
        "startup_s": startup,
        "points_per_s": evaluated / seconds if evaluated and seconds > 0 else None,
        "executor": label,
        "out": str(out),
        "files": len(store.chunks),
    }
