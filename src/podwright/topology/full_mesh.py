"""n-D full mesh scale-up (UB-Mesh style; an 8-GPU MI300X board is the 1-D case, dims [8]).

Along each dimension of size k every chip links directly to its k-1 peers. The chip's links
are shared evenly over all peers of all dimensions (links per peer = links / sum(k_i - 1)).
"""

from __future__ import annotations

import math

from podwright.errors import InputError
from podwright.topology.fabric import FabricPart, GraphBuilder, Level
from podwright.topology.media import link_items

TIER = "scale_up"


def links_per_peer(system, chip) -> int:
    peers = sum(k - 1 for k in system.scale_up.dims)
    per = chip.scale_up.links // peers if peers else 0
    if peers and per < 1:
        raise InputError(
            "scale_up.dims",
            f"{system.scale_up.dims} needs {peers} links per chip; {chip.name} has "
            f"{chip.scale_up.links}",
        )
    return per


def _check_whole(system, chips: int) -> None:
    if chips % system.scale_up.domain:
        raise InputError(
            "chips", f"{chips} is not a whole number of {system.scale_up.domain}-chip domains"
        )


def build(system, chip, chips: int) -> FabricPart:
    su = system.scale_up
    _check_whole(system, chips)
    per = links_per_peer(system, chip)
    port = chip.scale_up
    out = FabricPart()
    for i, k in enumerate(su.dims):
        links = chips * (k - 1) * per / 2
        out.items += link_items(
            TIER,
            su.media_of(i),
            links,
            port.lanes_per_link,
            port.link_bw * 8,
            su.optic,
            su.cable,
        )
    out.levels.append(
        Level(
            name="scale-up",
            fabric=TIER,
            kind="full_mesh",
            group=min(chips, su.domain),
            bw=port.link_bw * per * sum(k - 1 for k in su.dims),
            dims=tuple(su.dims),
        )
    )
    return out


def graph(system, chip, chips: int, g: GraphBuilder, chip_ids: list[int]) -> None:
    su = system.scale_up
    per = links_per_peer(system, chip)
    bw = chip.scale_up.link_bw * per
    strides = [math.prod(su.dims[:i]) for i in range(len(su.dims))]
    for start in range(0, chips, su.domain):
        for local in range(su.domain):
            coord = [(local // s) % k for s, k in zip(strides, su.dims, strict=True)]
            for i, k in enumerate(su.dims):
                for other in range(coord[i] + 1, k):
                    peer = local + (other - coord[i]) * strides[i]
                    g.link(chip_ids[start + local], chip_ids[start + peer], bw, 0.0, TIER)
