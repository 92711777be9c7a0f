"""Scale-out fat tree: 1 to 4 tiers, leaf oversubscription, rails and planes.

Counting rules (a folded Clos of radix-R switch chips):
- a leaf has `down` = R*o/(1+o) endpoint ports and R-down uplinks (o = oversubscription);
- above the leaf the tree is non-blocking: a middle-tier switch has R/2 ports down and R/2 up,
  the top tier uses all R ports downwards;
- links between tiers are proportional to the endpoints (endpoints/o above the leaf), so
  counts scale smoothly with N; tiers = the fewest (<= max_tiers) whose capacity holds N;
- rail-optimised (`rails` > 1): NIC i of every node lands on a leaf of rail i;
- `planes` > 1: each NIC port joins its own independent tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from podwright.errors import InputError
from podwright.specs import load_part
from podwright.topology.fabric import FabricPart, GraphBuilder, Level
from podwright.topology.media import hop_latency_us, link_items, module_share, part_item

TIER = "scale_out"


def per_chip_gbps(system, chip) -> float:
    return endpoint(system, chip)[0]


def endpoint(system, chip) -> tuple[float, float]:
    """(scale-out Gb/s per chip, Gb/s of one NIC port)."""
    if system.node.nic and system.node.nics:
        nic = load_part(system.node.nic, "nic")
        nic.require("gbps")
        port = nic.gbps / (nic.ports or 1)
        total = system.scale_out_gbps_per_chip or system.node.nics * nic.gbps / system.node.chips
        return total, port
    gbps = system.scale_out_gbps_per_chip or chip.scale_out_gbps
    if gbps:
        return gbps, gbps
    raise InputError("node.nic", f"system {system.name} names no scale-out NIC or chip port")


@dataclass(frozen=True)
class TreeShape:
    radix: int
    down: int
    endpoints: int  # per plane
    tiers: int
    switches: tuple[int, ...]  # per tier, per plane
    links: tuple[int, ...]  # links entering each tier, per plane


def capacity(radix: int, down: int, tiers: int) -> int:
    if tiers == 1:
        return radix
    return down * (radix // 2) ** (tiers - 2) * radix


def shape(radix: int, oversub: float, rails: int, endpoints: int, max_tiers: int) -> TreeShape:
    down = int(radix * oversub / (1 + oversub))
    if down < 1 or down >= radix:
        raise InputError("scale_out.oversubscription", f"{oversub} leaves no up or down ports")
    tiers = next((t for t in range(1, max_tiers + 1) if capacity(radix, down, t) >= endpoints), 0)
    if not tiers:
        raise InputError(
            "chips",
            f"{endpoints} endpoints exceed a {max_tiers}-tier fat tree of radix {radix} "
            f"(max {capacity(radix, down, max_tiers)})",
        )
    if tiers == 1:
        return TreeShape(radix, down, endpoints, 1, (math.ceil(endpoints / radix),), (endpoints,))
    rails = min(rails, endpoints)
    leaves = rails * math.ceil(endpoints / rails / down)
    up_links = math.ceil(endpoints / oversub)
    switches, links = [leaves], [endpoints]
    for t in range(2, tiers + 1):
        links.append(up_links)
        per = radix if t == tiers else radix // 2
        switches.append(math.ceil(up_links / per))
    return TreeShape(radix, down, endpoints, tiers, tuple(switches), tuple(links))


def _tree(system, chip, chips: int):
    so = system.scale_out
    switch = load_part(so.switch, "switch_chip")
    switch.require("ports", "port_gbps")
    gbps, nic_port = endpoint(system, chip)
    # a switch runs its ports broken out to the NIC port speed where that is slower
    link = min(nic_port, switch.port_gbps)
    radix = int(switch.ports * switch.port_gbps // link)
    lanes = switch.lanes_per_port * link / switch.port_gbps if switch.lanes_per_port else None
    ports_per_chip = gbps / link / so.planes
    endpoints = math.ceil(chips * ports_per_chip)
    tree = shape(radix, so.oversubscription, so.rails, endpoints, so.max_tiers)
    return so, switch, gbps, ports_per_chip, tree, link, lanes


def build(system, chip, chips: int) -> FabricPart:
    so, switch, gbps, ports_per_chip, tree, link, lanes = _tree(system, chip, chips)
    out = FabricPart()
    lanes = round(lanes) if lanes else None
    out.items.append(part_item(switch.name, "switch_chip", TIER, so.planes * sum(tree.switches)))
    endpoints = so.planes * tree.endpoints
    if so.leaf_media == "copper":
        out.items += link_items(TIER, "copper", endpoints, lanes, link, None, so.leaf_cable)
    else:
        for end, optic in (("nic", so.nic_optic), ("switch", so.switch_optic)):
            if not optic:
                raise InputError(f"scale_out.{end}_optic", "optical leaf links need a module")
            share = module_share(load_part(optic, "optical_module"), lanes, link)
            out.items.append(part_item(optic, "optical_module", TIER, endpoints * share))
    upper = so.planes * sum(tree.links[1:])
    out.items += link_items(TIER, "optical", upper, lanes, link, so.switch_optic, None)
    hop = hop_latency_us(switch)
    per_plane_chip = max(ports_per_chip, 1e-12)
    for t in range(1, tree.tiers + 1):
        group = min(chips, int(capacity(tree.radix, tree.down, t) / per_plane_chip))
        if t == 1 and tree.tiers > 1:
            group = min(chips, int(tree.down * min(so.rails, tree.endpoints) / per_plane_chip))
        out.levels.append(
            Level(
                name=f"scale-out tier {t}",
                fabric=TIER,
                kind="fat_tree",
                group=group,
                bw=gbps / 8 / (1 if t == 1 else so.oversubscription),
                latency_us=(2 * t - 1) * hop,
                in_network_reduction=switch.in_network_reduction,
                tier=t,
            )
        )
    out.notes.append(
        f"{tree.tiers}-tier fat tree of {switch.name} (radix {tree.radix}, {tree.down} down at the "
        f"leaf), {so.planes} plane(s), {so.rails} rail(s), {gbps:g} Gb/s per chip"
    )
    return out


def graph(system, chip, chips: int, g: GraphBuilder, chip_ids: list[int]) -> None:
    so, switch, gbps, ports_per_chip, tree, link, _ = _tree(system, chip, chips)
    cap = link / 8
    hop = hop_latency_us(switch)
    per_node = system.node.chips
    rails = min(so.rails, tree.endpoints)
    for p in range(so.planes):
        tiers = [
            [g.vertex("switch", f"so.p{p}.t{t + 1}.{i}") for i in range(n)]
            for t, n in enumerate(tree.switches)
        ]
        leaves = tiers[0]
        per_rail = len(leaves) // rails if tree.tiers > 1 else len(leaves)
        ep_per_chip = max(1, round(ports_per_chip))
        for c in range(chips):
            rail = (c % per_node) % rails if tree.tiers > 1 else 0
            slot = (c // per_node) if rails > 1 else c
            leaf = leaves[rail * per_rail + min(per_rail - 1, slot * ep_per_chip // tree.down)]
            for _ in range(ep_per_chip):
                g.link(chip_ids[c], leaf, cap, hop, TIER)
        if tree.tiers == 3:
            _pods(g, tree, tiers, cap, hop)
            continue
        for t in range(1, tree.tiers):
            lower, upper = tiers[t - 1], tiers[t]
            per_lower = math.ceil(tree.links[t] / len(lower))
            k = 0
            for s in lower:
                # every lower switch wires the same pattern (uplink j -> upper j mod n), so
                # each pair of leaves sees the same link count through every spine
                for j in range(per_lower):
                    if k >= tree.links[t]:
                        break
                    g.link(s, upper[j % len(upper)], cap, hop, TIER)
                    k += 1


def _pods(g: GraphBuilder, tree: TreeShape, tiers: list[list[int]], cap: float, hop: float):
    """A 3-tier folded Clos as pods: a pod is radix/2 leaves and the tier-2 switches they all
    reach (one link from every leaf to every tier-2 switch of its pod); the tier-2 switch at
    position j of every pod reaches spine group j. Leaves are numbered rail-major, so a pod
    holds leaves of one rail where the rail is large enough."""
    leaves, mids, spines = tiers
    up1 = math.ceil(tree.links[1] / len(leaves))  # uplinks per leaf
    per_pod = max(1, tree.radix // 2)
    pods = math.ceil(len(leaves) / per_pod)
    width = max(1, min(up1, len(mids) // pods))  # tier-2 switches per pod
    for i, leaf in enumerate(leaves):
        pod = i // per_pod
        for k in range(up1):
            g.link(leaf, mids[(pod * width + k % width) % len(mids)], cap, hop, TIER)
    up2 = math.ceil(tree.links[2] / len(mids))
    group = max(1, len(spines) // width)
    for i, mid in enumerate(mids):
        j = i % width
        for k in range(up2):
            g.link(mid, spines[(j * group + k % group) % len(spines)], cap, hop, TIER)
