"""`podwright serve-sim`: request-level serving simulation of a deployment."""

from __future__ import annotations

import json as _json
import sys

from podwright.commands.options import Arg, Opt
from podwright.errors import InputError


def serve_sim(
    scenario: Arg(str, "scenario YAML with inference.phase: serve"),
    rate: Opt(
        str,
        "arrivals per second per instance, or auto: the highest rate whose p99 TTFT "
        "and TPOT meet inference.slo",
    ) = "auto",
    concurrency: Opt(
        int | None,
        "a closed loop of this many clients instead of Poisson "
        "arrivals, each sending its next request when the last ends "
        "(--max-concurrency)",
    ) = None,
    offline: Opt(
        int | None,
        "an offline run: this many requests all there at the start "
        "(benchmark_throughput, trtllm-bench throughput); throughput = output tokens "
        "over the run",
    ) = None,
    curve: Opt(
        int | None,
        "the throughput-latency curve: this many rates from 10% to 100% of the saturation rate",
    ) = None,
    requests: Opt(
        int | None,
        "requests to simulate (default 4,000, more where those never reach a steady state)",
    ) = None,
    seed: Opt(int, "random seed of the arrivals and lengths") = 0,
    lengths: Opt(
        str,
        "fixed: the scenario's lengths; varied: prompts uniform over 0.5-1.5x "
        "input_len, outputs geometric with mean output_len; range:R: both uniform "
        "from R x length to the length (--random-range-ratio)",
    ) = "fixed",
    token_budget: Opt(
        int, "tokens one iteration may schedule per attention rank (max_num_batched_tokens)"
    ) = 8192,
    with_band: Opt(
        bool,
        "also run with the calibration factors at both ends of their "
        "uncertainty: [low, high] of the rate, throughput and p99 latencies",
        "--band",
    ) = False,
    as_json: Opt(bool, "print JSON", "--json") = False,
    sets: Opt(list[str] | None, "what-if override KEY.PATH=VALUE; repeatable", "--set") = None,
) -> None:
    """Simulate requests arriving at a deployment (one instance, or disaggregated prefill and
    decode pools): TTFT / TPOT / end-to-end percentiles, throughput, $/Mtoken, the share within
    the SLO; by default the highest rate meeting the SLO at p99."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from podwright.sim.serving import (
        band,
        load_curve,
        max_rate,
        serving_costs,
        simulate,
        with_economics,
    )
    from podwright.specs.scenario import load_scenario

    s = load_scenario(scenario, sets)
    costs = serving_costs(s)
    inf = s.inference
    if curve is not None:
        if rate != "auto" or concurrency is not None:
            raise InputError("curve", "give --curve alone, without --rate or --concurrency")
        with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as bar:
            task = bar.add_task("simulating the load points", total=curve)
            points = load_curve(costs, inf, curve, progress=lambda: bar.advance(task),
                                requests=requests, seed=seed, lengths=lengths,
                                token_budget=token_budget)  # fmt: skip
        return _print_curve(s.name, points, as_json)
    if offline is not None:
        if rate != "auto" or concurrency is not None:
            raise InputError("offline", "give --offline alone, without --rate or --concurrency")
        if offline < 1:
            raise InputError("offline", f"must be at least 1 request (got {offline})")

        def run(c, progress=None):
            return simulate(c, inf, float("inf"), offline, seed, lengths, token_budget)

        runs = 1
    elif concurrency is not None:
        if rate != "auto":
            raise InputError("rate", "give --rate or --concurrency, not both")

        def run(c, progress=None):
            return simulate(c, inf, 0.0, requests, seed, lengths, token_budget, concurrency)

        runs = 1
    elif rate == "auto":
        steps = runs = 12

        def run(c, progress=None):
            return max_rate(c, inf, requests, seed, lengths, token_budget, steps, progress)

    else:
        try:
            value = float(rate)
        except ValueError:
            raise InputError("rate", f"must be a number or auto (got {rate!r})") from None

        def run(c, progress=None):
            return simulate(c, inf, value, requests, seed, lengths, token_budget)

        runs = 1
    with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as bar:
        task = bar.add_task("simulating", total=runs * (3 if with_band else 1))
        step = lambda: bar.advance(task)  # noqa: E731
        result = run(costs, step) if runs > 1 else run(costs)
        if with_band:
            result["band"] = band(s, lambda c: run(c, step if runs > 1 else None))
    result = with_economics(s, {"scenario": s.name} | result)
    if as_json:
        sys.stdout.write(_json.dumps(result, indent=2) + "\n")
        return
    console = Console(width=None if sys.stdout.isatty() else 160)
    clients = f" ({concurrency} clients in a closed loop)" if concurrency else ""
    lay = result["layout"]
    if "instances" in result:
        n = result["instances"]
        where = (
            f"{n['prefill']} prefill instance(s) {lay['prefill']['parallel']} and "
            f"{n['decode']} decode instance(s) {lay['decode']['parallel']} "
            f"({result['instance_chips']} chips; KV transfer {result['kv_transfer_ms']:.3g} ms)"
        )
    else:
        where = f"one instance of {result['instance_chips']} chips, layout {lay['parallel']}"
    console.print(
        f"{s.name}: {result['rate_per_s']:.3g} requests/s{clients} on {where}, "
        f"up to {result['max_seqs']:,} sequences at once per instance"
    )
    state = "in steady state" if result["steady_state"] else "no steady state reached"
    table = Table(
        title=f"{result['requests_measured']:,} of {result['requests']:,} requests, {state}"
    )
    table.add_column("")
    for p in ("p50", "p90", "p99", "mean"):
        table.add_column(p, justify="right")
    for key, label in (
        ("ttft_ms", "TTFT (ms)"),
        ("tpot_ms", "TPOT (ms)"),
        ("e2e_s", "end to end (s)"),
    ):
        if result[key]:
            table.add_row(label, *(_cell(result[key][p]) for p in ("p50", "p90", "p99", "mean")))
    console.print(table)
    console.print(
        f"output tokens/s per chip {result['output_tokens_per_s_per_chip']:,.0f} "
        f"(offered {result['offered_tokens_per_s_per_chip']:,.0f}); within the SLO "
        f"{100 * result['within_slo']:.1f}% of requests; p99 meets the SLO: "
        f"{'yes' if result['meets_slo_p99'] else 'no'}"
    )
    econ = result["economics"]
    if "usd_per_mtoken" in econ:
        console.print(
            f"${econ['usd_per_mtoken']:.3g} per million output tokens at this rate "
            f"(${econ['usd_per_hour']:,.0f}/hour for {s.chips} chips)"
        )
    for key, (lo, hi) in result.get("band", {}).items():
        console.print(f"band {key}: {_cell(lo)} .. {_cell(hi)}")
    if "search" in result:
        lo, hi = result["search"]["highest_rate_met"], result["search"]["lowest_rate_missed"]
        console.print(
            f"highest rate meeting the SLO at p99: between {lo:.4g} and {hi:.4g} requests/s"
        )


def _cell(v: float) -> str:
    """Three significant figures, without exponents: 1,550 rather than 1.55e+03."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _print_curve(name: str, points: list[dict], as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    if as_json:
        sys.stdout.write(_json.dumps({"scenario": name, "curve": points}, indent=2) + "\n")
        return
    table = Table(title=f"{name}: throughput against latency (steady state)")
    for col in ("load", "requests/s", "tokens/s per chip", "TTFT p50 (ms)", "TTFT p99 (ms)",
                "TPOT p50 (ms)", "TPOT p99 (ms)", "within SLO"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in points:
        tpot = r["tpot_ms"] or {"p50": float("nan"), "p99": float("nan")}
        table.add_row(
            f"{100 * r['load']:.0f}%", _cell(r["rate_per_s"]),
            _cell(r["output_tokens_per_s_per_chip"]), _cell(r["ttft_ms"]["p50"]),
            _cell(r["ttft_ms"]["p99"]), _cell(tpot["p50"]), _cell(tpot["p99"]),
            f"{100 * r['within_slo']:.0f}%",
        )  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 160).print(table)
