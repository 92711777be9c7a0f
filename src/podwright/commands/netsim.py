"""`podwright netsim`: simulate one collective on a system's fabric graph."""

from __future__ import annotations

import json as _json
import sys
from typing import Annotated

import typer

from podwright.errors import InputError


def netsim(
    system: Annotated[str, typer.Argument(help="catalog system name or path to a system YAML")],
    op: Annotated[
        str,
        typer.Option(
            help="all_reduce | reduce_scatter | all_gather | all_to_all | p2p | ep_dispatch | ep_combine"
        ),
    ] = "all_reduce",  # noqa: E501
    size: Annotated[
        str, typer.Option(help="bytes per chip (nccl-tests convention), e.g. 64MiB")
    ] = "64MiB",  # noqa: E501
    group: Annotated[
        int | None, typer.Option(help="chips in the collective (default: all)")
    ] = None,  # noqa: E501
    chips: Annotated[
        int | None,
        typer.Option(
            "--chips",
            "-n",
            help="chips in the fabric (default: the group, at least one scale-up domain)",
        ),
    ] = None,  # noqa: E501
    fail: Annotated[
        list[str] | None, typer.Option(help="link:A-B or switch:NAME (repeatable)")
    ] = None,  # noqa: E501
    algorithm: Annotated[
        str,
        typer.Option(help="auto | ring | tree | halving_doubling | hierarchical | inr | direct"),
    ] = "auto",  # noqa: E501
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    figure: Annotated[
        str | None, typer.Option(help="write a PNG of link utilisation per tier")
    ] = None,  # noqa: E501
    stride: Annotated[int, typer.Option(help="chips between group members")] = 1,
    routing: Annotated[str, typer.Option(help="spray | ecmp")] = "spray",
    slow: Annotated[
        list[str] | None, typer.Option(help="straggler CHIP[:FACTOR] (repeatable)")
    ] = None,  # noqa: E501
    background: Annotated[
        str | None, typer.Option(help="second job OP:FIRST_CHIP:CHIPS sharing the links")
    ] = None,  # noqa: E501
    oversubscription: Annotated[
        float | None, typer.Option(help="override scale_out.oversubscription")
    ] = None,  # noqa: E501
    skew: Annotated[
        float, typer.Option(help="EP: Zipf exponent of expert popularity (0 = uniform)")
    ] = 0.0,  # noqa: E501
    ideal: Annotated[
        bool, typer.Option(help="nominal link rates (no calibration factors)")
    ] = False,  # noqa: E501
) -> None:
    """Flow-level simulation of one collective: time, algbw, busbw and link utilisation."""
    from podwright.sim.network import simulate
    from podwright.specs import load_system
    from podwright.topology import build

    sysm = load_system(system)
    if oversubscription is not None:
        if oversubscription <= 0:
            raise InputError("oversubscription", f"must be positive (got {oversubscription})")
        if sysm.scale_out.kind == "none":
            raise InputError("oversubscription", f"{sysm.name} has no scale-out fabric")
        so = sysm.scale_out.model_copy(update={"oversubscription": oversubscription})
        sysm = sysm.model_copy(update={"scale_out": so})
    if chips is None:
        need = max(group or sysm.scale_up.domain, 2) * max(stride, 1)
        node = sysm.node.chips
        chips = max(sysm.scale_up.domain, -(-need // node) * node)
        if sysm.scale_up.kind in ("full_mesh", "torus"):
            chips = -(-chips // sysm.scale_up.domain) * sysm.scale_up.domain
    if skew < 0:
        raise InputError("skew", f"must be >= 0 (got {skew})")
    fabric = build(sysm, chips)
    ep = {"skew": skew} if op.startswith("ep_") else {}
    r = simulate(
        fabric, op, size, group, stride=stride, algorithm=algorithm, fail=fail or (),
        slow=slow or (), routing=routing, background=background, calibrated=not ideal, **ep,
    )  # fmt: skip
    r.pop("_link_bytes")
    if figure:
        _figure(r, figure)
    if json:
        sys.stdout.write(_json.dumps(r, indent=2, default=str) + "\n")
        return
    _print(r)


def _print(r: dict) -> None:
    from rich.console import Console

    from podwright.report.tables import table

    console = Console(width=None if sys.stdout.isatty() else 160)
    head = (
        f"{r['system']} ({r['chips']} chips): {r['op']} {r['size_bytes']:.4g} B on {r['group']} "
        f"chips, {r['algorithm']}, {r['routing']}{'' if r['calibrated'] else ', ideal links'}"
    )
    console.print(
        table(
            head,
            ["time us", "algbw GB/s", "busbw GB/s"],
            [[round(r["time_us"], 2), round(r["algbw_gbs"], 2), round(r["busbw_gbs"], 2)]],
        )
    )
    console.print(
        table(
            "phases",
            ["phase", "repeat", "flows", "us each", "events"],
            [
                [p["phase"], p["repeat"], p["flows"], round(p["time_us"], 3), p["events"]]
                for p in r["phases"]
            ],  # fmt: skip
            right_from=1,
        )
    )
    console.print(
        table(
            "link utilisation per tier (time-averaged over the collective)",
            ["links", "count", "busy", "mean", "max"],
            [
                [t["links"], t["count"], t["busy"], f"{t['mean_util']:.1%}", f"{t['max_util']:.1%}"]
                for t in r["links"]["tiers"]
            ],  # fmt: skip
            right_from=1,
        )
    )
    console.print(
        table(
            "hottest links",
            ["link", "tier", "GB/s", "util"],
            [[h["link"], h["tier"], h["gbs"], f"{h['util']:.1%}"] for h in r["links"]["hottest"]],
            right_from=2,
        )
    )
    for n in r["notes"]:
        console.print(f"note: {n}")


def _figure(r: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("figure", "needs matplotlib: pip install 'podwright[plot]'") from None
    tiers = r["links"]["tiers"]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(tiers) + 1.5))
    y = range(len(tiers))
    ax.barh(y, [t["mean_util"] * 100 for t in tiers], label="mean")
    ax.scatter([t["max_util"] * 100 for t in tiers], list(y), color="k", marker="|", s=200,
               label="max")  # fmt: skip
    ax.set_yticks(list(y), [t["links"] for t in tiers])
    ax.set_xlabel("link utilisation, % of nominal rate")
    ax.set_title(f"{r['system']}: {r['op']} on {r['group']} chips, busbw {r['busbw_gbs']:.1f} GB/s")
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise InputError("figure", f"cannot write '{path}': {e.strerror}") from None
    finally:
        plt.close(fig)
