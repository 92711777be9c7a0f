"""`podwright sweep`: run a sweep file, query its Parquet results with SQL, plot them.

podwright sweep SWEEP.yaml [--executor local|ray] [--address ray://host:port]
                           [--workers N] [--out RESULTS_DIR] [--chunk-size N]
podwright sweep query RESULTS_DIR "SELECT ... FROM results ..." [--json]
podwright sweep plot RESULTS_DIR --x COL --y COL [--color COL] -o fig.png|fig.html
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from podwright.errors import InputError


class _RunByDefault(TyperGroup):
    """`podwright sweep FILE ...` means `podwright sweep run FILE ...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Design-space sweeps: `podwright sweep SWEEP.yaml`, then `query` and `plot` the results.",
)


@sweep_app.command("run")
def run(
    sweep_file: Annotated[str, typer.Argument(help="sweep YAML (docs/sweep.md)")],
    executor: Annotated[str, typer.Option("--executor", help="local | ray")] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address, e.g. ray://host:10001")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", help="processes (default: CPU count)")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="results folder (default: FILE-results/)")
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option("--chunk-size", help="points per Parquet file (default: auto)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Evaluate every point of a sweep (resuming a partial results folder)."""
    from podwright.search.sweep import default_out, load_sweep, run_sweep

    sweep = load_sweep(sweep_file)
    out = out or str(default_out(sweep_file))
    try:
        s = run_sweep(
            sweep, out, executor, workers, address, chunk_size, progress=not (quiet or as_json)
        )
    except KeyboardInterrupt:
        sys.stderr.write("podwright: interrupted; rerun the same command to resume\n")
        raise typer.Exit(130) from None
    if as_json:
        sys.stdout.write(json.dumps(s, indent=2) + "\n")
        return
    if s["evaluated"]:
        now = (
            f"{s['evaluated']:,} evaluated in {s['seconds']:.1f} s "
            f"({s['points_per_s']:,.0f} points/s, {s['executor']}), {s['errors']:,} with errors"
        )
    else:
        now = "nothing left to evaluate"
    sys.stdout.write(
        f"sweep '{s['name']}' ({s['sweep_id']}): {s['points']:,} points; {now}; "
        f"{s['already_done']:,} done before; {s['files']} Parquet files in {s['out']}\n"
    )


@sweep_app.command("query")
def query(
    results: Annotated[str, typer.Argument(help="results folder (or one .parquet file)")],
    sql: Annotated[str, typer.Argument(help='SQL over the table `results`, e.g. "SELECT ..."')],
    as_json: Annotated[bool, typer.Option("--json", help="print rows as JSON records")] = False,
) -> None:
    """Run DuckDB SQL over a sweep's Parquet files (table `results`)."""
    from podwright.report.tables import table
    from podwright.search.results import query as run_query

    cols, rows = run_query(results, sql)
    if as_json:
        records = [dict(zip(cols, r, strict=True)) for r in rows]
        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
        return
    console = Console(width=None if sys.stdout.isatty() else 200)
    title = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
    console.print(table(title, cols, [list(r) for r in rows]))


@sweep_app.command("plot")
def plot(
    results: Annotated[str, typer.Argument(help="results folder (or one .parquet file)")],
    x: Annotated[str, typer.Option("--x", help="column on the x axis")],
    y: Annotated[str, typer.Option("--y", help="column on the y axis")],
    output: Annotated[str, typer.Option("--output", "-o", help="fig.png | fig.svg | fig.html")],
    color: Annotated[str | None, typer.Option("--color", help="column for colour")] = None,
    where: Annotated[str | None, typer.Option("--where", help='SQL condition, e.g. "fits"')] = None,
) -> None:
    """Scatter plot of two result columns (matplotlib for images, plotly for HTML)."""
    from podwright.search.plot import plot_results

    if not x or not y:
        raise InputError("x", "give --x and --y")
    r = plot_results(results, x, y, output, color=color, where=where)
    sys.stdout.write(f"plotted {r['points']:,} points to {r['out']}\n")
