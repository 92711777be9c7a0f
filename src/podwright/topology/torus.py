"""Torus scale-up: TPU pods (3-D torus blocks joined by optical circuit switches) and
Trn2 UltraServers (a 4x4x4 torus of NeuronLink, no OCS).

With an OCS: blocks of `dims` chips (TPU v4: 4x4x4 cubes) have their internal links on
electrical media; every link leaving a block face goes through an optical module at the chip
side to an OCS. One OCS serves one face position of one dimension for every block (Jouppi et
al., ISCA 2023: 3 dims x 16 positions = 48 OCS for 64 cubes), so the OCS count is
dims x face positions x ceil(2 x blocks / OCS ports).
Without an OCS the torus closes on itself; each dimension of size k > 2 has k links per ring.
"""

from __future__ import annotations

import math

from podwright.errors import InputError
from podwright.specs import load_part
from podwright.topology.fabric import FabricPart, GraphBuilder, Level
from podwright.topology.media import link_items, part_item

TIER = "scale_up"


def build(system, chip, chips: int) -> FabricPart:
    su = system.scale_up
    dims = su.dims
    block = math.prod(dims)
    if chips % block:
        raise InputError("chips", f"{chips} is not a whole number of {dims} torus blocks")
    port = chip.scale_up
    link_gbps = port.link_bw * 8
    out = FabricPart()
    blocks = chips // block
    if su.ocs:
        ocs = load_part(su.ocs, "ocs")
        ocs.require("ports")
        internal = blocks * sum((k - 1) * (block // k) for k in dims)
        face_positions = sum(block // k for k in dims)
        external_ends = blocks * 2 * face_positions
        ocs_count = face_positions * math.ceil(2 * blocks / ocs.ports)
        out.items.append(part_item(ocs.name, "ocs", TIER, ocs_count))
        # chip-side modules only: the OCS is a passive mirror array
        out.items += link_items(
            TIER, "optical", external_ends, port.lanes_per_link, link_gbps, su.optic, None, ends=1
        )
        out.items += link_items(
            TIER, su.media_of(0), internal, port.lanes_per_link, link_gbps, None, su.cable
        )
        out.notes.append(
            f"{blocks} blocks of {dims}; {external_ends} face links through {ocs_count} OCS"
        )
    else:
        for i, k in enumerate(dims):
            links = blocks * (block // k) * (k if k > 2 else k - 1)
            out.items += link_items(
                TIER, su.media_of(i), links, port.lanes_per_link, link_gbps, su.optic, su.cable
            )
    out.levels.append(
        Level(
            name="scale-up",
            fabric=TIER,
            kind="torus",
            group=min(chips, su.domain),
            bw=port.bw,
            dims=tuple(dims),
        )
    )
    return out


def graph(system, chip, chips: int, g: GraphBuilder, chip_ids: list[int]) -> None:
    """With an OCS the slice is one torus of shape slice_dims(chips); without, each block is
    its own torus. Wrap links close every ring."""
    if system.scale_up.ocs:
        _torus_graph(slice_dims(system, chips), chip, g, chip_ids)
        return
    block = math.prod(system.scale_up.dims)
    for start in range(0, chips, block):
        _torus_graph(tuple(system.scale_up.dims), chip, g, chip_ids[start : start + block])


def _torus_graph(shape, chip, g: GraphBuilder, chip_ids: list[int]) -> None:
    chips = len(chip_ids)
    bw = chip.scale_up.link_bw
    strides = [math.prod(shape[:i]) for i in range(len(shape))]
    for idx in range(chips):
        coord = [(idx // s) % k for s, k in zip(strides, shape, strict=True)]
        for i, k in enumerate(shape):
            if k < 2 or (k == 2 and coord[i] == 1):
                continue
            nxt = idx + (((coord[i] + 1) % k) - coord[i]) * strides[i]
            g.link(chip_ids[idx], chip_ids[nxt], bw, 0.0, TIER)


def slice_dims(system, chips: int) -> tuple[int, ...]:
    """Shape of a slice of `chips`: blocks stacked along the dimensions, smallest first."""
    dims = list(system.scale_up.dims)
    n = chips // math.prod(dims)
    i = 0
    while n > 1:
        # grow the currently smallest dimension by doubling where possible
        i = min(range(len(dims)), key=lambda j: dims[j])
        f = 2 if n % 2 == 0 else n
        dims[i] *= f
        n //= f
    return tuple(dims)
