"""Assemble a whole system of N chips: compute nodes, scale-up and scale-out fabrics, racks,
cooling. One registry maps each fabric kind to its builder."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import ModuleType

from podwright.errors import InputError
from podwright.specs import Chip, System, load_chip, load_part, load_system
from podwright.topology import clos, fat_tree, full_mesh, switched, torus
from podwright.topology.fabric import BomItem, FabricPart, Graph, GraphBuilder, Level
from podwright.topology.media import part_item

SCALE_UP_BUILDERS: dict[str, ModuleType] = {
    "switched": switched,
    "clos": clos,
    "full_mesh": full_mesh,
    "torus": torus,
}
SCALE_OUT_BUILDERS: dict[str, ModuleType] = {"fat_tree": fat_tree}

TOTAL_KEYS = (
    "chips",
    "optical_modules",
    "optical_modules_per_chip",
    "switch_chips",
    "copper_cables",
    "power_kw",
    "capex_usd",
)


@dataclass
class Fabric:
    system: System
    chip: Chip
    chips: int
    levels: list[Level]
    items: list[BomItem]
    notes: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        return self.chips // self.system.node.chips

    @property
    def domains(self) -> int:
        return math.ceil(self.chips / self.system.scale_up.domain)

    @property
    def scale_up(self) -> Level | None:
        return next((lv for lv in self.levels if lv.fabric == "scale_up"), None)

    def _sum(self, items, category=None) -> float:
        return sum(i.count for i in items if category is None or i.category == category)

    def totals(self, tier: str | None = None) -> dict:
        items = [i for i in self.items if tier is None or i.tier == tier]
        optics = self._sum(items, "optical_module")
        chips = self.chips if tier in (None, "compute") else 0
        out = {
            "chips": self.chips if tier is None else chips,
            "optical_modules": optics,
            "optical_modules_per_chip": optics / self.chips,
            "switch_chips": self._sum(items, "switch_chip"),
            "copper_cables": self._sum(items, "copper_cable"),
            "power_kw": sum(i.power_w for i in items) / 1000,
            "capex_usd": sum(i.cost_usd for i in items),
        }
        return {k: _round(v) for k, v in out.items()}

    def unpriced_parts(self) -> list[str]:
        """Parts in the bill of materials with no sourced price: capex leaves them out."""
        return sorted({i.part for i in self.items if i.count and not i.priced})

    def it_power_kw(self) -> float:
        return sum(i.power_w for i in self.items if i.category != "cooling") / 1000

    def bom(self) -> dict:
        return {
            "system": self.system.name,
            "chips": self.chips,
            "items": [i.as_dict() for i in self.items if i.count],
            "totals": self.totals(),
            "unpriced_parts": self.unpriced_parts(),
            "by_tier": {t: self.totals(t) for t in ("scale_up", "scale_out")},
            "levels": [
                {
                    "name": lv.name,
                    "kind": lv.kind,
                    "group": lv.group,
                    "bw_gbs_per_chip": lv.bw,
                    "latency_us": lv.latency_us,
                    "in_network_reduction": lv.in_network_reduction,
                }
                for lv in self.levels
            ],
        }

    def graph(self) -> Graph:
        """The explicit graph (chips, switch chips, links) of the whole system."""
        g = GraphBuilder()
        ids = [g.vertex("chip", f"chip{i}") for i in range(self.chips)]
        su = self.system.scale_up
        if su.kind in SCALE_UP_BUILDERS:
            SCALE_UP_BUILDERS[su.kind].graph(self.system, self.chip, self.chips, g, ids)
        so = self.system.scale_out
        if so.kind in SCALE_OUT_BUILDERS:
            SCALE_OUT_BUILDERS[so.kind].graph(self.system, self.chip, self.chips, g, ids)
        return g.build()


def _round(v: float):
    return int(round(v)) if abs(v - round(v)) < 1e-6 else round(v, 3)


def _compute_items(system: System, chip: Chip, chips: int) -> list[BomItem]:
    node = system.node
    nodes = chips // node.chips
    items = [
        BomItem(
            chip.name, "accelerator", "compute", chips, chip.tdp_w or 0.0, chip.price_usd or 0.0,
            priced=chip.price_usd is not None,
        )
    ]  # fmt: skip
    if node.cpu and node.cpus:
        items.append(part_item(node.cpu, "cpu", "compute", nodes * node.cpus))
    if node.nic and node.nics:
        items.append(part_item(node.nic, "nic", "compute", nodes * node.nics))
    # The rest of the node (memory, fans, boards, power conversion): what the node's datasheet
    # power and price leave after the parts above.
    per_node_power = sum(i.power_w for i in items) / nodes
    per_node_cost = sum(i.cost_usd for i in items) / nodes
    rest_w = max(0.0, (node.power_w or per_node_power) - per_node_power)
    rest_usd = max(0.0, (node.price_usd or per_node_cost) - per_node_cost)
    if node.price_usd is not None:
        # the node's price covers its parts: the unpriced ones are inside node-rest
        items = [dataclasses.replace(i, priced=True) for i in items]
    if rest_w or rest_usd:
        items.append(BomItem("node-rest", "node", "compute", nodes, rest_w, rest_usd,
                             priced=node.price_usd is not None))  # fmt: skip
    return items


def nodes_per_rack(system: System, compute_items: list[BomItem], nodes: int) -> int:
    """The design's figure, or as many nodes as the rack part's power capacity holds."""
    if system.nodes_per_rack:
        return system.nodes_per_rack
    if not system.rack:
        raise InputError("nodes_per_rack", "give nodes_per_rack or a rack part with power_kw")
    rack = load_part(system.rack, "rack")
    rack.require("power_kw")
    node_w = sum(i.power_w for i in compute_items if i.tier == "compute") / nodes
    return max(1, int(rack.power_kw * 1000 // node_w))


def build(system: System | str, chips: int | None = None, chip: Chip | None = None) -> Fabric:
    """Build `chips` chips of `system` (default: one scale-up domain). `chip`, where given,
    replaces the chip the system names (a what-if chip, e.g. in a sweep)."""
    if isinstance(system, str):
        system = load_system(system)
    chip = load_chip(system.chip) if chip is None else chip
    chips = system.scale_up.domain if chips is None else chips
    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 1:
        raise InputError("chips", f"must be a positive whole number (got {chips!r})")
    if chips % system.node.chips:
        raise InputError(
            "chips", f"{chips} is not a whole number of {system.node.chips}-chip nodes"
        )
    items = _compute_items(system, chip, chips)
    levels: list[Level] = []
    notes: list[str] = []
    su, so = system.scale_up, system.scale_out
    parts: list[FabricPart] = []
    if su.kind in SCALE_UP_BUILDERS:
        parts.append(SCALE_UP_BUILDERS[su.kind].build(system, chip, chips))
    if so.kind in SCALE_OUT_BUILDERS:
        parts.append(SCALE_OUT_BUILDERS[so.kind].build(system, chip, chips))
    for p in parts:
        levels += p.levels
        items += p.items
        notes += p.notes
    nodes = chips // system.node.chips
    racks = (
        math.ceil(nodes / nodes_per_rack(system, items, nodes))
        + math.ceil(chips / su.domain) * su.network_racks
    )
    if system.rack:
        items.append(part_item(system.rack, "rack", "facility", racks))
    if system.cooling:
        cooling = load_part(system.cooling, "cooling")
        it_w = sum(i.power_w for i in items)
        overhead = (cooling.overhead or 0.0) * it_w
        kw = it_w / 1000
        items.append(
            BomItem(
                cooling.name,
                "cooling",
                "facility",
                kw,
                overhead / kw if kw else 0.0,
                cooling.price_usd_per_kw or 0.0,
                note="count = IT kW served",
                priced=cooling.price_usd_per_kw is not None,
            )
        )
    return Fabric(system, chip, chips, levels, merge(_in_node_price(system, items)), notes)


def _in_node_price(system: System, items: list[BomItem]) -> list[BomItem]:
    """Parts a system-level price already pays for (`node.price_covers`) cost nothing more."""
    covers = set(system.node.price_covers) if system.node.price_usd is not None else set()

    def covered(i: BomItem) -> bool:
        return (i.tier == "scale_up" and "scale_up" in covers) or (
            i.category in ("rack", "cooling") and i.category in covers
        )

    return [
        dataclasses.replace(i, unit_cost_usd=0.0, priced=True, note="in the node price")
        if covered(i) else i
        for i in items
    ]  # fmt: skip


def merge(items: list[BomItem]) -> list[BomItem]:
    """One row per (part, tier): counts of the same part at several link ends add up."""
    rows: dict[tuple[str, str], BomItem] = {}
    for i in items:
        key = (i.part, i.tier)
        if key in rows:
            r = rows[key]
            rows[key] = BomItem(
                r.part,
                r.category,
                r.tier,
                r.count + i.count,
                r.unit_power_w,
                r.unit_cost_usd,
                r.note,
                r.priced and i.priced,
            )
        else:
            rows[key] = i
    return list(rows.values())
