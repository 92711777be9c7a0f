"""Single-tier switched scale-up (NVL72, HGX NVSwitch boards, Helios, IF128).

Every chip spreads its links over `planes` switch planes; each plane holds as many switch chips
as its ports require. A chip must reach every switch of its plane for the tier to be
single-hop, so links per plane >= switch chips per plane.
"""

from __future__ import annotations

import math

from podwright.errors import InputError
from podwright.specs import load_part
from podwright.topology.fabric import FabricPart, GraphBuilder, Level
from podwright.topology.media import hop_latency_us, link_items, part_item

TIER = "scale_up"


def switches_per_plane(domain: int, links_per_plane: int, ports: int) -> int:
    return math.ceil(domain * links_per_plane / ports)


def link_ports(switch, chip) -> int:
    """Chip links one switch chip takes: its bandwidth in units of the chip's link."""
    link_gbps = chip.scale_up.link_bw * 8
    if switch.port_gbps and switch.port_gbps > link_gbps * 1.15:
        return int(switch.ports * switch.port_gbps // link_gbps)
    return switch.ports


def planes(system, chip, switch) -> int:
    """The design's planes, or else the count that needs the fewest switch chips."""
    su, links = system.scale_up, chip.scale_up.links
    if su.planes:
        if links < su.planes:
            raise InputError(
                "scale_up.planes", f"{su.planes} planes but the chip has {links} links"
            )
        return su.planes

    def total(p: int) -> int:
        per = math.ceil(links / p)
        n = switches_per_plane(su.domain, per, link_ports(switch, chip))
        return p * n if n <= per else 10**9

    return min(range(1, links + 1), key=lambda p: (total(p), p))


def build(system, chip, chips: int) -> FabricPart:
    su = system.scale_up
    switch = load_part(su.switch, "switch_chip")
    switch.require("ports")
    port = chip.scale_up
    n_planes = planes(system, chip, switch)
    per_plane_links = math.ceil(port.links / n_planes)
    out = FabricPart()
    full, rest = divmod(chips, su.domain)
    switch_count = 0
    for n_domains, size in ((full, su.domain), (1 if rest else 0, rest)):
        if not n_domains:
            continue
        per_plane = switches_per_plane(size, per_plane_links, link_ports(switch, chip))
        if per_plane > per_plane_links:
            raise InputError(
                "scale_up.domain",
                f"{size} chips need {per_plane} {switch.name} per plane but each chip has only "
                f"{per_plane_links} links per plane: not a single-tier fabric",
            )
        switch_count += n_domains * n_planes * per_plane
    links = chips * port.links
    out.items.append(part_item(switch.name, "switch_chip", TIER, switch_count))
    out.items += link_items(
        TIER,
        su.media_of(),
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
            kind="switched",
            group=min(chips, su.domain),
            bw=port.bw,
            latency_us=hop_latency_us(switch),
            in_network_reduction=switch.in_network_reduction,
        )
    )
    return out


def graph(system, chip, chips: int, g: GraphBuilder, chip_ids: list[int]) -> None:
    su = system.scale_up
    switch = load_part(su.switch, "switch_chip")
    port = chip.scale_up
    n_planes = planes(system, chip, switch)
    per_plane_links = math.ceil(port.links / n_planes)
    lat = hop_latency_us(switch)
    for start in range(0, chips, su.domain):
        members = chip_ids[start : start + su.domain]
        per_plane = switches_per_plane(len(members), per_plane_links, link_ports(switch, chip))
        for p in range(n_planes):
            links_here = min(per_plane_links, port.links - p * per_plane_links)
            if links_here <= 0:
                continue
            sws = [
                g.vertex("switch", f"su{start // su.domain}.p{p}.s{s}") for s in range(per_plane)
            ]
            for c in members:
                for k in range(links_here):
                    g.link(c, sws[k % per_plane], port.link_bw, lat, TIER)
