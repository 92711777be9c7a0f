"""Industry-chain demand: what N chips of a design need, by category, with capex shares."""

from __future__ import annotations

from podwright.topology.build import Fabric

CATEGORIES = (
    ("accelerators", ("accelerator",)),
    ("servers_and_cpus", ("cpu", "node")),
    ("nics", ("nic",)),
    ("switch_chips", ("switch_chip", "ocs")),
    ("optical_modules", ("optical_module",)),
    ("copper_cables", ("copper_cable",)),
    ("racks", ("rack",)),
    ("cooling", ("cooling",)),
)


def demand(fabric: Fabric) -> dict:
    """Counts, power and capex per category. A category holding a part with no sourced price
    has `unpriced` parts; its capex and every category's share of the total are then partial
    (`capex_complete` false), since the total leaves those parts out."""
    capex = sum(i.cost_usd for i in fabric.items) or 1.0
    rows = []
    for label, cats in CATEGORIES:
        items = [i for i in fabric.items if i.category in cats]
        count = sum(i.count for i in items)
        cost = sum(i.cost_usd for i in items)
        rows.append(
            {
                "category": label,
                "count": round(count, 3),
                "per_chip": round(count / fabric.chips, 4),
                "power_kw": round(sum(i.power_w for i in items) / 1000, 3),
                "capex_usd": round(cost, 2),
                "capex_share": round(cost / capex, 4),
                "unpriced": sorted({i.part for i in items if i.count and not i.priced}),
            }
        )
    liquid = any(i.category == "cooling" and "liquid" in i.part for i in fabric.items)
    return {
        "system": fabric.system.name,
        "chips": fabric.chips,
        "categories": rows,
        "liquid_cooling_kw": round(fabric.it_power_kw(), 3) if liquid else 0.0,
        "capex_usd": round(capex, 2),
        "capex_complete": not fabric.unpriced_parts(),
    }
