"""Counting the optics and copper that carry a set of links (one place for the conventions).

Conventions (README "Counting conventions"):
- Optical modules: every optical link has a module at each end; a module with more lanes than
  a link uses (e.g. a twin-port 800G OSFP serving two 400G ports, or a 400G module carrying
  two 2-lane UB links) serves several link ends, so modules = links x 2 x lanes/link / lanes/module.
  Only the chip-side end is counted where the far end is a passive optical circuit switch.
- Copper: a `backplane` cable part (NVL72 NVLink spine cartridges) is counted per differential
  pair, lanes x 2 directions per link, the convention behind NVIDIA's "5,184 cables";
  DAC/ACC/AEC cables count one per link.
- `pcb` links (on a board or baseboard) need neither.
"""

from __future__ import annotations

from podwright.errors import InputError
from podwright.specs import load_part
from podwright.topology.fabric import BomItem


def module_share(optic, lanes: int | None, link_gbps: float) -> float:
    """Modules per link end.

    Where link and module lanes run at the same rate (within 15%), count lanes: a 4-lane 400G
    module carries two 2-lane links. Otherwise count bandwidth: a twin-port 800G module serves
    two 400G link ends. A module whose rate no source gives counts one per link end.
    """
    if optic.lanes and lanes and optic.gbps:
        if abs((link_gbps / lanes) / (optic.gbps / optic.lanes) - 1) <= 0.15:
            return lanes / optic.lanes
    if optic.gbps:
        return (
            min(1.0, link_gbps / optic.gbps) if link_gbps <= optic.gbps else link_gbps / optic.gbps
        )
    return 1.0


def link_items(
    tier: str,
    media: str,
    links: float,
    lanes: int | None,
    link_gbps: float,
    optic: str | None,
    cable: str | None,
    ends: int = 2,
) -> list[BomItem]:
    if links <= 0 or media == "pcb":
        return []
    if media == "optical":
        if not optic:
            raise InputError(f"{tier}.optic", "optical links need an optical module part")
        part = load_part(optic, "optical_module")
        count = links * ends * module_share(part, lanes, link_gbps)
        return [_item(part, "optical_module", tier, count)]
    if media == "copper":
        if not cable:
            raise InputError(f"{tier}.cable", "copper links need a copper cable part")
        part = load_part(cable, "copper_cable")
        per_link = 2 * (lanes or 1) if part.kind == "backplane" else 1
        return [_item(part, "copper_cable", tier, links * per_link)]
    raise InputError(f"{tier}.media", f"unknown media '{media}'")


def _item(part, category: str, tier: str, count: float) -> BomItem:
    return BomItem(
        part.name, category, tier, count, part.power_w, part.price_usd or 0.0,
        priced=part.price_usd is not None,
    )  # fmt: skip


def part_item(name: str, category: str, tier: str, count: float) -> BomItem:
    return _item(load_part(name, category), category, tier, count)


def hop_latency_us(part) -> float:
    return (part.latency_ns or 0.0) / 1000.0
