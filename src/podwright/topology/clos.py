"""Two-tier Clos scale-up with planes (CloudMatrix 384's Unified Bus).

Each chip has one link (or more) into every plane. Tier 1 switch chips sit on the node, one
set per plane; each carries its node's links of that plane down, and the same bandwidth up
(divided by the tier's oversubscription) as `link_lanes`-wide uplinks. Tier 2 of a plane has
one switch chip per tier-1 uplink, so every tier-1 chip reaches every tier-2 chip of its plane
once: a leaf-spine, non-blocking at oversubscription 1.
"""

from __future__ import annotations

import math

from podwright.errors import InputError
from podwright.specs import load_part
from podwright.topology.fabric import FabricPart, GraphBuilder, Level
from podwright.topology.media import hop_latency_us, link_items, part_item

TIER = "scale_up"


def _shape(system, chip):
    su = system.scale_up
    if len(su.tiers) != 2:
        raise InputError("scale_up.tiers", "the clos builder takes exactly 2 tiers")
    t1, t2 = su.tiers
    if t1.placement != "node":
        raise InputError("scale_up.tiers.0.placement", "tier 1 must sit on the node")
    port = chip.scale_up
    if port.links % su.planes:
        raise InputError(
            "scale_up.planes", f"the chip's {port.links} links do not split over {su.planes} planes"
        )
    links_per_plane = port.links // su.planes
    down_lanes = system.node.chips * links_per_plane * port.lanes_per_link
    up_lanes = down_lanes / t1.oversubscription
    up_link_lanes = t2.link_lanes or port.lanes_per_link
    uplinks = math.ceil(up_lanes / up_link_lanes)
    l1 = load_part(t1.switch, "switch_chip")
    l2 = load_part(t2.switch, "switch_chip")
    if l1.ports and l1.lanes_per_port:
        capacity = l1.ports * l1.lanes_per_port
        if down_lanes + uplinks * up_link_lanes > capacity:
            raise InputError(
                "scale_up.tiers.0.switch",
                f"{l1.name} has {capacity} lanes; the node needs {down_lanes} down + "
                f"{uplinks * up_link_lanes} up per plane",
            )
    return su, t1, t2, l1, l2, port, links_per_plane, uplinks, up_link_lanes


def build(system, chip, chips: int) -> FabricPart:
    su, t1, t2, l1, l2, port, links_per_plane, uplinks, up_lanes = _shape(system, chip)
    nodes = chips // system.node.chips
    domains = math.ceil(chips / su.domain)
    nodes_per_domain = su.domain // system.node.chips
    if l2.ports and min(nodes, nodes_per_domain) > l2.ports:
        raise InputError(
            "scale_up.domain",
            f"{nodes_per_domain} nodes per plane exceed the {l2.ports} ports of {l2.name}",
        )
    l1_count = nodes * su.planes
    l2_count = domains * su.planes * uplinks
    lane_gbps = port.lane_gbps
    out = FabricPart()
    out.items.append(part_item(l1.name, "switch_chip", f"{TIER}", l1_count))
    out.items.append(part_item(l2.name, "switch_chip", f"{TIER}", l2_count))
    out.items += link_items(
        TIER,
        t1.link_media,
        chips * port.links,
        port.lanes_per_link,
        port.link_bw * 8,
        t1.optic,
        t1.cable,
    )
    out.items += link_items(
        TIER, t2.link_media, l1_count * uplinks, up_lanes, up_lanes * lane_gbps, t2.optic, t2.cable
    )
    out.notes.append(
        f"{su.planes} planes; per node and plane {system.node.chips * links_per_plane} links "
        f"down and {uplinks} x {up_lanes}-lane uplinks to {uplinks} tier-2 chips"
    )
    out.levels.append(
        Level(
            name="scale-up",
            fabric=TIER,
            kind="clos",
            group=min(chips, su.domain),
            bw=port.bw / t1.oversubscription,
            latency_us=2 * hop_latency_us(l1) + hop_latency_us(l2),
            in_network_reduction=l1.in_network_reduction and l2.in_network_reduction,
        )
    )
    return out


def graph(system, chip, chips: int, g: GraphBuilder, chip_ids: list[int]) -> None:
    su, t1, t2, l1, l2, port, links_per_plane, uplinks, up_lanes = _shape(system, chip)
    per_node = system.node.chips
    up_bw = up_lanes * port.lane_gbps / 8
    lat1, lat2 = hop_latency_us(l1), hop_latency_us(l2)
    for d, start in enumerate(range(0, chips, su.domain)):
        members = chip_ids[start : start + su.domain]
        for p in range(su.planes):
            spines = [g.vertex("switch", f"su{d}.p{p}.l2.{s}") for s in range(uplinks)]
            for n in range(0, len(members), per_node):
                leaf = g.vertex("switch", f"su{d}.p{p}.l1.n{n // per_node}")
                for c in members[n : n + per_node]:
                    for _ in range(links_per_plane):
                        g.link(c, leaf, port.link_bw, lat1, TIER)
                for s in spines:
                    g.link(leaf, s, up_bw, lat2, TIER)
