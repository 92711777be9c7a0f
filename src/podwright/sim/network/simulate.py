"""Simulate one collective on a fabric: phases of flows, max-min fair rates, nccl-tests metrics."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from podwright.errors import InputError
from podwright.sim.network.collectives import BUS_FACTOR, phases
from podwright.sim.network.network import STEP_OVERHEAD_US, Network, Phase
from podwright.sim.network.solver import run
from podwright.topology import Fabric, build

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "tb": 1e12}  # fmt: skip


def parse_size(text: str | int | float) -> float:
    if isinstance(text, int | float):
        if text <= 0:
            raise InputError("size", f"must be positive (got {text})")
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise InputError("size", f"'{text}' is not a size such as 64MiB, 1GB or 4096")
    v = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if v <= 0:
        raise InputError("size", f"must be positive (got {text})")
    return v


def members_of(fabric: Fabric, group: int | None, stride: int = 1, first: int = 0) -> np.ndarray:
    group = fabric.chips if group is None else group
    if isinstance(group, bool) or not isinstance(group, int) or group < 2:
        raise InputError("group", f"must be a whole number >= 2 (got {group!r})")
    if stride < 1:
        raise InputError("stride", f"must be >= 1 (got {stride})")
    last = first + (group - 1) * stride
    if first < 0 or last >= fabric.chips:
        raise InputError(
            "group", f"{group} chips at stride {stride} need {last + 1} chips; the fabric has "
            f"{fabric.chips} (raise --chips)"
        )  # fmt: skip
    return first + stride * np.arange(group, dtype=np.int64)


def parse_background(spec: str) -> tuple[str, int, int]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise InputError("background", f"'{spec}': use OP:FIRST_CHIP:CHIPS, e.g. all_to_all:0:64")
    try:
        return parts[0], int(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(
            "background", f"'{spec}': FIRST_CHIP and CHIPS are whole numbers"
        ) from None


def simulate(
    system: str | Fabric,
    op: str = "all_reduce",
    size: str | float = "64MiB",
    group: int | None = None,
    chips: int | None = None,
    stride: int = 1,
    algorithm: str = "auto",
    fail=(),
    slow=(),
    routing: str = "spray",
    background: str | None = None,
    calibrated: bool = True,
    concurrent: bool = False,
    network: Network | None = None,
    **ep,
) -> dict:
    """Simulate `op` of `size` bytes among `group` chips (stride apart) and report nccl-tests
    time, algorithm bandwidth and bus bandwidth, with link utilisation."""
    S = parse_size(size)
    if network is None:
        fabric = system if isinstance(system, Fabric) else build(system, chips)
        network = Network.of(fabric, fail, slow, routing, calibrated)
    fabric = network.fabric
    members = members_of(fabric, group, stride)
    n = len(members)
    groups = [members]
    if concurrent and stride > 1:  # the other groups of the same span run at the same time
        groups = [members + k for k in range(stride) if members[-1] + k < fabric.chips]
    plist, algo = [], None
    for mem in groups:
        ps, algo = phases(network, op, mem, S, algorithm, **ep)
        plist.append(ps)
    if len(plist) > 1:
        from podwright.sim.network.collectives import _stack

        ps = _stack(plist)
    bg = None
    if background:
        bop, bfirst, bcount = parse_background(background)
        bmem = members_of(fabric, bcount, 1, bfirst)
        bps, _ = phases(network, bop, bmem, S, "auto")
        bg = bps[0]
    total = 0.0
    link_bytes = np.zeros(network.ng.links)
    rows = []
    for ph in ps:
        run_ph = ph
        if bg is not None:
            run_ph = Phase(
                ph.name,
                np.concatenate([ph.src, bg.src]),
                np.concatenate([ph.dst, bg.dst]),
                np.concatenate([ph.nbytes, np.full(len(bg.src), np.inf)]),
                ph.repeat,
                None if ph.inr is None and bg.inr is None else np.concatenate(
                    [_or0(ph.inr, len(ph.src)), _or0(bg.inr, len(bg.src))]),
                np.concatenate([_or0(ph.salt, len(ph.src)), _or0(bg.salt, len(bg.src)) + 1000]),
                ph.inr_phase,
            )  # fmt: skip
        inc = network.incidence(run_ph)
        r = run(inc, network.capacity(run_ph.inr_phase), run_ph.nbytes)
        own = np.zeros(len(run_ph.src), dtype=bool)
        own[: len(ph.src)] = True
        crosses_out = (inc.per_flow((network.ng.tier == 1).astype(float))[own] > 0).any()
        lat = float(np.max(inc.per_flow(network.ng.latency_us)[own], initial=0.0))
        lat += STEP_OVERHEAD_US["scale_out" if crosses_out else "scale_up"]
        t = r.time_s + lat * 1e-6
        total += t * ph.repeat
        link_bytes += r.link_bytes * ph.repeat
        rows.append({"phase": ph.name, "repeat": ph.repeat, "flows": int(own.sum()),
                     "time_us": t * 1e6, "events": r.events, "nnz": inc.nnz})  # fmt: skip
    algbw = S / total / 1e9
    busbw = algbw * BUS_FACTOR[op](n)
    return {
        "system": fabric.system.name,
        "chips": fabric.chips,
        "op": op,
        "algorithm": algo,
        "routing": network.mode,
        "size_bytes": S,
        "group": n,
        "stride": stride,
        "time_us": total * 1e6,
        "algbw_gbs": algbw,
        "busbw_gbs": busbw,
        "calibrated": network.calibrated,
        "phases": rows,
        "links": utilisation(network, link_bytes, total),
        "notes": list(network.ng.notes),
        "_link_bytes": link_bytes,
    }


def _or0(x, n):
    return np.zeros(n, dtype=np.int64) if x is None else x


def utilisation(network: Network, link_bytes: np.ndarray, total_s: float, top: int = 5) -> dict:
    ng = network.ng
    cap = ng.cap * 1e9
    util = np.where(cap > 0, link_bytes / np.maximum(cap * total_s, 1e-30), 0.0)
    hot = np.argsort(-util, kind="stable")[:top]
    tiers = []
    for lab in np.unique(ng.label):
        sel = ng.label == lab
        used = sel & (link_bytes > 0)
        tiers.append({
            "links": lab,
            "count": int(sel.sum()),
            "busy": int(used.sum()),
            "mean_util": float(util[sel].mean()),
            "max_util": float(util[sel].max()),
            "bytes": float(link_bytes[sel].sum()),
        })  # fmt: skip
    return {
        "hottest": [
            {
                "link": f"{ng.names[ng.src[i]]}->{ng.names[ng.dst[i]]}",
                "tier": str(ng.label[i]),
                "util": float(util[i]),
                "gbs": float(ng.cap[i]),
            }  # fmt: skip
            for i in hot
            if util[i] > 0
        ],
        "tiers": tiers,
    }


@lru_cache(maxsize=32)
def _network(system: str, chips: int, mode: str) -> Network:
    return Network.of(build(system, chips), mode=mode)


@lru_cache(maxsize=4096)
def _cached_time(system: str, chips: int, kind: str, nbytes: float, group: int, stride: int,
                 mode: str) -> float:  # fmt: skip
    net = _network(system, chips, mode)
    r = simulate(net.fabric, kind, nbytes, group, stride=stride, network=net, concurrent=True)
    return r["time_us"] * 1e-6


def collective_time(fabric: Fabric, kind: str, nbytes: float, group: int, stride: int = 1,
                    routing: str = "spray") -> float:  # fmt: skip
    """Seconds for one collective of `kind` on `group` chips `stride` apart (the other groups of
    the same span run concurrently), cached per shape. Same conventions as
    estimate.network.NetworkModel.time: nbytes is the buffer (all_to_all: what one chip sends).

    The fabric is rebuilt from its system name at the smallest chip count that holds the span
    (at least one scale-up domain), so that a 16,384-chip fabric does not cost a 16,384-chip
    graph for a group of 8."""
    group, stride = int(group), max(1, int(stride))
    if group < 2 or nbytes <= 0:
        return 0.0
    kind = {"p2p": "p2p"}.get(kind, kind)
    span = group * stride
    node = fabric.system.node.chips
    dom = fabric.system.scale_up.domain
    chips = min(fabric.chips, max(dom, -(-span // node) * node))
    chips = -(-chips // node) * node
    if fabric.system.scale_up.kind in ("full_mesh", "torus") and chips % dom:
        chips = -(-chips // dom) * dom
    return _cached_time(fabric.system.name, chips, kind, float(nbytes), group, stride, routing)
