"""The podwright command line. Bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from podwright.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Design and evaluate AI supernodes: BoM, comparisons, training and inference estimates.",
)
console = Console(width=None if sys.stdout.isatty() else 160)

ChipsOpt = Annotated[
    int | None, typer.Option("--chips", "-n", help="accelerators (default: one scale-up domain)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="what-if override of a scenario field, KEY.PATH=VALUE (VALUE read as YAML), "
        "e.g. --set training.attention=unfused; repeatable",
    ),
]


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


@app.command()
def bom(
    system: Annotated[str, typer.Argument(help="catalog system name or path to a system YAML")],
    chips: ChipsOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV rows")] = False,
) -> None:
    """Bill of materials derived from the system's topology."""
    from podwright.report.tables import table
    from podwright.topology import build

    fabric = build(system, chips)
    data = fabric.bom()
    if as_json:
        return _print_json(data)
    if as_csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(data["items"][0]))
        w.writeheader()
        w.writerows(data["items"])
        sys.stdout.write(buf.getvalue())
        return
    rows = [
        [
            i["part"],
            i["category"],
            i["tier"],
            i["count"],
            i["unit_power_w"],
            i["count"] * i["unit_power_w"] / 1000,
            None if i["unit_cost_usd"] is None else i["count"] * i["unit_cost_usd"],
        ]
        for i in data["items"]
    ]
    console.print(
        table(
            f"{fabric.system.name}: {fabric.chips} x {fabric.chip.name}",
            ["part", "category", "tier", "count", "W each", "kW", "cost $"],
            rows,
            right_from=3,
        )
    )
    tot_rows = [
        [k] + [data["totals"][k]] + [data["by_tier"][t][k] for t in ("scale_up", "scale_out")]
        for k in data["totals"]
    ]
    console.print(table("totals", ["", "system", "scale-up", "scale-out"], tot_rows))
    lv_rows = [[lv["name"], lv["kind"], lv["group"], lv["bw_gbs_per_chip"], lv["latency_us"],
               lv["in_network_reduction"]] for lv in data["levels"]]  # fmt: skip
    console.print(table("fabric levels (bandwidth per chip, one direction)",
                        ["level", "kind", "chips", "GB/s", "latency us", "in-network reduction"],
                        lv_rows, right_from=2))  # fmt: skip
    for note in fabric.notes:
        console.print(f"[dim]{note}[/dim]")
    if data["unpriced_parts"]:
        console.print(f"[dim]no sourced price for {', '.join(data['unpriced_parts'])} (cost -): "
                      "capex_usd counts the priced parts only[/dim]")  # fmt: skip


def _print_comparison(res: dict, keys, labels, ratio_keys, title: str, layout) -> None:
    """One row per system of a model comparison (serving or training), ratios to the first,
    each system's layout and calibration band, its unpriced parts and the systems not compared."""
    from podwright.report.tables import fmt, table

    names = list(res["systems"])
    cols = ["system"] + [labels[k] for k in keys] + [f"{labels[k]} ×" for k in ratio_keys]
    body = []
    for n in names:
        r = res["systems"][n]
        cells = [r[k] for k in keys]
        if not r["capex_complete"]:  # unpriced parts left out: a lower bound
            cells[keys.index("usd_per_mtoken")] = "≥" + fmt(r["usd_per_mtoken"])
        body.append([n] + cells + [res["ratio"][n][k] for k in ratio_keys])
    console.print(table(f"{title}; × = ratio to {names[0]}", cols, body))
    for n in names:
        r = res["systems"][n]
        bands = "; ".join(f"{labels[k]} {fmt(lo)}..{fmt(hi)}" for k, (lo, hi) in r["band"].items())
        console.print(f"[dim]{n}: band {bands}; {layout(r)}[/dim]")
        if not r["capex_complete"]:
            console.print(f"[dim]{n}: no sourced price for {', '.join(r['unpriced_parts'])}"
                          " (left out of the capex: $/Mtoken is a lower bound)[/dim]")  # fmt: skip
    for n, why in res["skipped"].items():
        console.print(f"{n}: not compared, {why}")


@app.command()
def compare(
    systems: Annotated[list[str], typer.Argument(help="two or more systems")],
    chips: ChipsOpt = None,
    as_json: JsonOpt = False,
    model: Annotated[str | None, typer.Option(help="compare serving this model instead")] = None,
    train: Annotated[
        bool, typer.Option("--train", help="with --model: compare training it instead")
    ] = False,
    input_len: Annotated[int, typer.Option(help="prompt tokens (with --model)")] = 4096,
    output_len: Annotated[int, typer.Option(help="generated tokens (with --model)")] = 1024,
    tpot_ms: Annotated[float | None, typer.Option(help="TPOT SLO in ms (with --model)")] = None,
    seq_len: Annotated[int, typer.Option(help="sequence length (with --train)")] = 8192,
    global_batch: Annotated[
        int | None, typer.Option(help="sequences per step (with --train; default 4M tokens)")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="matmul precision (with --model; fp8 serving, bf16 --train)")
    ] = None,
    utilization: Annotated[
        float | None,
        typer.Option(help="with --model: average share of hours at the rate, for $/Mtoken (0-1]"),
    ] = None,
) -> None:
    """Side-by-side figures of one supernode each (or --chips N each), with ratios to the first.
    With --model: each system's best serving layout within the SLO, tokens/s per chip, per
    system and per kW, $/Mtoken. With --model --train: each system's fastest training layout
    on --chips N (default 1,024) chips, MFU, tokens/s per chip, per system and per kW, $/Mtoken."""
    from podwright.report.tables import table

    if len(systems) < 2:
        raise InputError("systems", f"give two or more systems to compare (got {len(systems)})")
    if train and not model:
        raise InputError("train", "needs --model")
    if utilization is not None and not model:
        raise InputError("utilization", "needs --model")
    at = f", $ at {utilization:.0%} utilization" if utilization is not None else ""
    if model and train:
        from podwright.search import compare as cmp

        prec = precision or "bf16"
        res = cmp.compare_training(
            systems, model, chips or 1024, seq_len, global_batch, prec, utilization
        )
        if as_json:
            return _print_json(res)
        title = (f"training {model} on {res['chips']:,} chips: {seq_len}-token sequences, "
                 f"{res['global_batch']:,} per step, {prec}{at}")  # fmt: skip
        _print_comparison(res, cmp.TRAIN_KEYS, cmp.TRAIN_LABELS, cmp.TRAIN_RATIO_KEYS, title,
                          lambda r: str(r["layout"]))  # fmt: skip
        return
    if model:
        from podwright.search import compare as cmp

        prec = precision or "fp8"
        res = cmp.compare_serving(
            systems, model, input_len, output_len, tpot_ms, prec, chips, utilization
        )
        if as_json:
            return _print_json(res)
        slo = f"TPOT <= {tpot_ms} ms" if tpot_ms else "no TPOT SLO"
        title = (f"{model}: {input_len} in / {output_len} out, {slo}, {prec}; "
                 f"balanced prefill/decode pools{at}")  # fmt: skip
        _print_comparison(res, cmp.KEYS, cmp.LABELS, cmp.RATIO_KEYS, title,
                          lambda r: f"prefill {r['prefill_layout']}; decode {r['decode_layout']}")  # fmt: skip
        return
    from podwright.topology import build
    from podwright.topology.summary import SUMMARY_KEYS, ratios, summary

    rows = {name: summary(build(name, chips)) for name in systems}
    names = list(rows)
    rat = ratios(rows)
    if as_json:
        return _print_json({"systems": rows, "ratio": rat})
    from podwright.report.tables import fmt

    def cell(n, k):
        v = rows[n][k]
        return "≥" + fmt(v) if k == "capex_usd" and rows[n]["unpriced_parts"] else v

    cols = ["metric"] + names + [f"{n} / {names[0]}" for n in names[1:]]
    body = [
        [k] + [cell(n, k) for n in names] + [rat[n][k] for n in names[1:]] for k in SUMMARY_KEYS
    ]
    console.print(table("compare (bandwidths one direction)", cols, body))
    for n in names:
        if rows[n]["unpriced_parts"]:
            console.print(f"[dim]{n}: no sourced price for {', '.join(rows[n]['unpriced_parts'])}"
                          " (left out of capex_usd)[/dim]")  # fmt: skip


@app.command()
def demand(
    system: Annotated[str, typer.Argument(help="catalog system name or path")],
    chips: ChipsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Industry-chain demand of N chips of a design: counts per category and capex shares."""
    from podwright.economics.demand import demand as compute
    from podwright.report.tables import table
    from podwright.topology import build

    data = compute(build(system, chips))
    if as_json:
        return _print_json(data)
    partial = not data["capex_complete"]
    rows = [
        [r["category"], r["count"], r["per_chip"], r["power_kw"],
         None if r["unpriced"] else r["capex_usd"],
         None if partial else r["capex_share"]]
        for r in data["categories"]
    ]  # fmt: skip
    console.print(
        table(
            f"{data['system']}: demand of {data['chips']:,} chips",
            ["category", "count", "per chip", "kW", "capex $", "share"],
            rows,
        )
    )
    if partial:
        unpriced = sorted({p for r in data["categories"] for p in r["unpriced"]})
        console.print(f"[dim]no sourced price for {', '.join(unpriced)}: capex $ of their "
                      "categories and the shares are left out (-)[/dim]")  # fmt: skip


@app.command()
def predict(
    scenario: Annotated[str, typer.Argument(help="scenario YAML (SCENARIO.md section 1)")],
    as_json: JsonOpt = False,
    explain: Annotated[bool, typer.Option("--explain", help="where the time goes")] = False,
    network: Annotated[
        str, typer.Option(help="analytical | sim (flow-level simulator)")
    ] = "analytical",
    report: Annotated[
        str | None, typer.Option("--report", help="also write a self-contained HTML report")
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Predict training step time / MFU or inference TTFT / TPOT for one scenario."""
    from podwright.estimate.predict import predict as run
    from podwright.report.prediction import print_prediction
    from podwright.specs.scenario import load_scenario

    if network not in ("analytical", "sim"):
        raise InputError("network", f"must be analytical or sim (got {network!r})")
    s = load_scenario(scenario, sets)
    factory = None
    if network == "sim":
        from podwright.sim.network.estimator import sim_network as factory
    from podwright.economics.cost import add_economics
    from podwright.estimate.predict import fabric_for
    from podwright.reliability.goodput import add_reliability

    fabric = fabric_for(s)
    result = add_economics(s, run(s, explain=explain, network=factory), fabric)
    result = add_reliability(s, result, fabric)
    if report:
        from podwright.report.html import render

        render(result, fabric.bom(), report)
    if as_json:
        return _print_json(result)
    print_prediction(console, result)


@app.command()
def validate(
    path: Annotated[str, typer.Argument(help="validation YAML file or folder")],
    as_json: JsonOpt = False,
    only: Annotated[
        str | None,
        typer.Option("--only", help="ids starting with this prefix (several: comma-separated)"),
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Predict published measurements and report the error per case, median and p90.
    Scenario cases (`cases:`) go through the estimator; collective measurements (`records:`,
    nccl-tests and DeepEP) through the flow-level simulator; serving load points (`points:`)
    through the serving simulation."""
    from rich.progress import Progress

    from podwright.estimate.validate import (
        load_cases,
        summarise,
        validate_cases,
        validation_files,
    )
    from podwright.report.tables import table
    from podwright.specs.scenario import apply_sets

    prefixes = tuple(p for p in (only or "").split(",") if p)

    def wanted(case_id) -> bool:
        return not prefixes or str(case_id).startswith(prefixes)

    case_files, record_files, curve_files = validation_files(path)
    cases = [c for c in load_cases(path) if wanted(c.get("id", ""))]
    if sets:
        # what-if: the overrides go to every selected case that has the section they name
        cases = [c | {"scenario": apply_sets(c["scenario"], sets, only_present=True)}
                 if isinstance(c.get("scenario"), dict) else c for c in cases]  # fmt: skip
    rows = []
    with Progress(console=Console(stderr=True), transient=True, disable=as_json) as bar:
        task = bar.add_task("validating", total=len(cases) + len(record_files) + len(curve_files))
        if cases:
            rows += validate_cases(cases, progress=lambda _id: bar.advance(task))["cases"]
        if record_files:
            from podwright.sim.network.validate import validate_collectives

            for f in record_files:
                found = validate_collectives(f)["cases"]
                rows += [r for r in found if wanted(r["id"])]
                bar.advance(task)
        if curve_files:
            from podwright.sim.serving_checks import validation_rows

            for f in curve_files:
                rows += [r for r in validation_rows(f) if wanted(r["id"])]
                bar.advance(task)
    result = summarise(rows)
    if as_json:
        return _print_json(result)
    rows = [
        [r["id"], r["metric"].split(".")[-1], r["predicted"], r["measured"],
         f"{r['error']:+.1%}" if r["error"] is not None else r.get("failed", "failed")]
        for r in result["cases"]
    ]  # fmt: skip
    console.print(table("validation", ["case", "metric", "predicted", "measured", "error"], rows))
    for key in (
        "median_abs_error",
        "p90_abs_error",
        "train_median_abs_error",
        "train_p90_abs_error",
        "inf_median_abs_error",
        "inf_p90_abs_error",
    ):
        if result.get(key) is not None:
            console.print(f"{key}: {result[key]:.1%}")
    if result.get("band_coverage") is not None:
        console.print(
            f"band_coverage: {result['band_coverage']:.0%} of measurements inside the band"
        )
    if result.get("interval_coverage") is not None:
        console.print(f"interval_coverage: {result['interval_coverage']:.0%} inside the interval")
    console.print(f"failed: {result['failed']}")


def _recompute_label(lay: dict) -> str:
    """'full' or, for full recompute of part of each pipeline chunk, 'full (N per chunk)'."""
    n = lay.get("recompute_layers")
    return f"{lay['recompute']} ({n} per chunk)" if n else lay["recompute"]


@app.command("search")
def search_cmd(
    scenario: Annotated[str, typer.Argument(help="scenario YAML with `auto` keys to search")],
    top: Annotated[int, typer.Option("--top", help="results to show")] = 5,
    objective: Annotated[
        str, typer.Option(help="tokens_per_s_per_chip | cost_per_mtoken | step_time")
    ] = "tokens_per_s_per_chip",
    as_json: JsonOpt = False,
    figure: Annotated[
        str | None, typer.Option("--figure", "-o", help="Pareto front figure (.png/.html)")
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Best parallel layouts of a scenario (every `auto` key enumerated), rejected counts, Pareto front."""
    from podwright.report.tables import table
    from podwright.search.layouts import search
    from podwright.specs.scenario import load_scenario

    result = search(load_scenario(scenario, sets), top=top, objective=objective)
    if figure:
        from podwright.report.figures import pareto_figure

        pareto_figure(result["pareto"], figure)
    if as_json:
        return _print_json(result)
    rows = []
    for r in result["results"]:
        body = r.get("training") or r.get("inference")
        lay = r["layout"]
        par = ", ".join(f"{k}{v}" for k, v in lay.get("parallel", {}).items())
        extra = (
            [
                f"mb{lay['micro_batch']}",
                f"zero{lay['zero']}",
                _recompute_label(lay),
                lay["schedule"],
            ]
            if "zero" in lay
            else [f"batch {lay['batch']}", f"instance {lay['instance_chips']}"]
        )
        speed = (
            body.get("tokens_per_s_per_chip")
            or body.get("decode_tokens_per_s_per_chip")
            or body.get("prefill_tokens_per_s_per_chip")
        )
        rows.append([par + "; " + ", ".join(extra), speed, body.get("mfu", body.get("tpot_ms", body.get("ttft_ms"))),
                     body["memory_gb_per_chip"], r["economics"].get("usd_per_mtoken")])  # fmt: skip
    cols = ["layout", "tokens/s/chip", "MFU / TPOT ms", "GB/chip", "$/Mtoken"]
    console.print(table(f"best of {result['evaluated']:,} layouts", cols, rows))
    for reason, n in result["rejected"].items():
        console.print(f"[dim]{n:,} rejected: {reason}[/dim]")
    split = result.get("disaggregated")
    if split:
        console.print(
            f"disaggregated split: prefill {split['prefill_layout']} + decode "
            f"{split['decode_layout']}, {split['prefill_to_decode_chips']:.2f} prefill chips per "
            f"decode chip, {split['output_tokens_per_s_per_chip']:,.0f} output tokens/s per chip"
        )
    if result["pareto"]:
        console.print(table("Pareto front (throughput vs latency)", ["layout", "tokens/s/chip", "latency ms", "$/Mtoken"],
                            [[str(p["layout"]), p["tokens_per_s_per_chip"], p["latency_ms"], p["usd_per_mtoken"]]
                             for p in result["pareto"]]))  # fmt: skip


@app.command()
def reliability(
    system: Annotated[str, typer.Argument(help="catalog system name or path")],
    chips: ChipsOpt = None,
    model: Annotated[
        str | None, typer.Option(help="model whose training checkpoint to size")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Interruptions per day by component (from the BoM), and with --model the checkpoint
    interval and goodput of a training job."""
    from podwright.reliability.goodput import failure_rates, goodput, training_checkpoint_bytes
    from podwright.report.tables import table
    from podwright.topology import build
    from podwright.workload.model import load_model

    fabric = build(system, chips)
    rates = failure_rates(fabric)
    out = {
        "system": fabric.system.name,
        "chips": fabric.chips,
        "failures_per_day": rates["per_hour"] * 24,
        "by_category_per_day": {k: v * 24 for k, v in rates["by_category_per_hour"].items()},
    }
    if model:
        out["training"] = goodput(fabric, training_checkpoint_bytes(load_model(model)))
    if as_json:
        return _print_json(out)
    rows = [[k, v, v / out["failures_per_day"]] for k, v in out["by_category_per_day"].items()]
    rows.append(["total", out["failures_per_day"], 1.0])
    console.print(table(f"{out['system']}: {out['chips']:,} chips, interruptions per day",
                        ["category", "per day", "share"], rows))  # fmt: skip
    if model:
        g = out["training"]
        console.print(table(f"training {model}: checkpoint/restart", ["", "value"],
                            [[k, v] for k, v in g.items() if not isinstance(v, dict)]))  # fmt: skip


@app.command()
def calibrate(
    path: Annotated[str, typer.Argument(help="JSON written by benchmarks/gpu_calibration.py")],
    chip: Annotated[
        str | None, typer.Option(help="catalog chip it ran on (default: the file's `chip`)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Calibration factors derived from a GPU measurement file, beside the catalog's values:
    run benchmarks/gpu_calibration.py on your GPU, then this, then copy what you trust into
    catalog/calibration/CHIP.yaml with the file as its source."""
    from pathlib import Path

    from podwright.estimate.device_factors import derive
    from podwright.report.tables import table
    from podwright.specs.catalog import load_chip, read_yaml

    file = Path(path)
    if not file.is_file():
        raise InputError("path", f"no file at '{path}'")
    run = read_yaml(file, "path")
    if not isinstance(run, dict) or not any(k in run for k in ("gemm", "attention", "sustained")):
        raise InputError("path", f"'{path}' holds no gemm, attention or sustained measurements")
    name = chip or run.get("chip")
    if not name:
        raise InputError("chip", "the file names no chip: pass --chip NAME")
    rows = derive(run, load_chip(name))
    if as_json:
        return _print_json({"chip": name, "device": run.get("device"), "factors": rows})

    def at(value, seq) -> str:  # an attention factor with the length it holds at
        return f"{value:.3g} @ {seq / 1024:g}k" if value is not None and seq else value

    console.print(table(f"{name}: factors from {file.name} ({run.get('device', '?')})",
                        ["factor", "derived", "catalog", "how"],
                        [[r["factor"], at(r["value"], r.get("at_seq", 0)),
                          at(r["catalog"], r.get("catalog_at_seq", 0)), r["how"]]
                         for r in rows]))  # fmt: skip
    fit = next((r for r in rows if "seq_half" in r), None)
    if fit:
        console.print(f"attention: at_seq {fit['at_seq']:g}, asymptote {fit['asymptote']:.3f}, "
                      f"seq_half {fit['seq_half']:.0f} tokens")  # fmt: skip


@app.command("list")
def list_catalog(
    kind: Annotated[str, typer.Argument(help="chips | systems | models | parts")] = "systems",
) -> None:
    """Names in the built-in catalog."""
    from podwright.specs import catalog_names

    if kind not in ("chips", "systems", "models", "parts"):
        raise InputError("kind", f"must be chips, systems, models or parts (got {kind!r})")
    if not sys.stdout.isatty() or kind == "parts":
        for name in catalog_names(kind):
            sys.stdout.write(name + "\n")
        return
    from podwright.report.tables import table

    console.print(table(kind, ["name", "description"], _catalog_rows(kind)))


def _catalog_rows(kind: str) -> list[list]:
    from podwright.specs import catalog_names, load_chip, load_system
    from podwright.workload.model import load_model

    rows = []
    for name in catalog_names(kind):
        if kind == "systems":
            desc = load_system(name).description
        elif kind == "chips":
            c = load_chip(name)
            desc = f"{c.vendor} {c.description}".strip()
        else:
            m = load_model(name)
            desc = f"{m.params / 1e9:.1f}B params, {m.active_params / 1e9:.1f}B active, {m.layers} layers"
        rows.append([name, desc])
    return rows


from podwright.commands.sweep import sweep_app  # noqa: E402

app.add_typer(sweep_app, name="sweep")


from podwright.commands.netsim import netsim  # noqa: E402

app.command()(netsim)

from podwright.commands.serve_sim import serve_sim  # noqa: E402

app.command("serve-sim")(serve_sim)


def main() -> None:
    """Entry point: runs the app and turns bad input into one line on stderr and exit 2."""
    try:
        rc = app(standalone_mode=False)
    except InputError as e:
        sys.stderr.write(f"podwright: error: {e}\n")
        sys.exit(2)
    except OSError as e:  # an output path that cannot be written, a full disk
        sys.stderr.write(f"podwright: error: {e.filename or 'output'}: {e.strerror}\n")
        sys.exit(2)
    except Exception as e:  # the CLI parser's own usage errors (typer's vendored click)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            sys.stderr.write(f"podwright: error: {e.format_message()}\n")
            sys.exit(e.exit_code)
        if type(e).__name__ in ("Exit", "Abort"):
            sys.exit(getattr(e, "exit_code", 130))
        raise
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
