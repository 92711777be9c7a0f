"""`podwright netsim`: simulate one collective on a system's fabric graph."""

from __future__ import annotations

import json as _json
import sys

from podwright.commands.options import Arg, Opt
from podwright.errors import InputError


def netsim(
    system: Arg(str, "catalog system name or path to a system YAML"),
    op: Opt(
        str,
        "all_reduce | reduce_scatter | all_gather | all_to_all | p2p | ep_dispatch | ep_combine",
    ) = "all_reduce",
    size: Opt(str, "bytes per chip (nccl-tests convention), e.g. 64MiB") = "64MiB",
    group: Opt(int | None, "chips in the collective (default: all)") = None,
    chips: Opt(
        int | None,
        "chips in the fabric (default: the group, at least one scale-up domain)",
        "--chips",
        "-n",
    ) = None,
    fail: Opt(list[str] | None, "link:A-B or switch:NAME (repeatable)") = None,
    algorithm: Opt(
        str, "auto | ring | tree | halving_doubling | hierarchical | inr | direct"
    ) = "auto",
    json: Opt(bool, "print JSON", "--json") = False,
    figure: Opt(str | None, "write a PNG of link utilisation per tier") = None,
    stride: Opt(int, "chips between group members") = 1,
    routing: Opt(str, "spray | ecmp") = "spray",
    slow: Opt(list[str] | None, "straggler CHIP[:FACTOR] (repeatable)") = None,
    background: Opt(str | None, "second job OP:FIRST_CHIP:CHIPS sharing the links") = None,
    oversubscription: Opt(float | None, "override scale_out.oversubscription") = None,
    skew: Opt(float, "EP: Zipf exponent of expert popularity (0 = uniform)") = 0.0,
    ideal: Opt(bool, "nominal link rates (no calibration factors)") = False,
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
