"""Headline figures of a built system: compute, memory, bandwidth, power, optics, cost."""

from __future__ import annotations

from podwright.topology.build import Fabric
from podwright.topology.fat_tree import per_chip_gbps

SUMMARY_KEYS = (
    "chips",
    "bf16_pflops",
    "fp8_pflops",
    "hbm_tb",
    "hbm_tbps",
    "scale_up_tbps",
    "scale_out_tbps",
    "power_kw",
    "optical_modules",
    "optical_modules_per_chip",
    "switch_chips",
    "copper_cables",
    "capex_usd",
    "w_per_bf16_tflops",
)


def summary(fabric: Fabric) -> dict:
    """Per-system figures. Bandwidths one direction: scale-up in TB/s, scale-out in Tb/s.

    power_kw is the all-in figure: accelerators, hosts, NICs, switch chips, optics and the
    cooling overhead of the system's cooling part.
    """
    chip, n, system = fabric.chip, fabric.chips, fabric.system
    totals = fabric.totals()
    bf16 = chip.peak("bf16") * n / 1000 if chip.has("bf16") else None
    su = fabric.scale_up
    scale_out = per_chip_gbps(system, chip) * n / 1000 if system.scale_out.kind != "none" else 0.0
    return {
        "chips": n,
        "bf16_pflops": bf16,
        "fp8_pflops": chip.peak_tflops["fp8"] * n / 1000 if "fp8" in chip.peak_tflops else None,
        "hbm_tb": chip.hbm_gb * n / 1000,
        "hbm_tbps": chip.hbm_tbps * n,
        "scale_up_tbps": (su.bw * n / 1000) if su else 0.0,
        "scale_out_tbps": scale_out,
        "power_kw": totals["power_kw"],
        "optical_modules": totals["optical_modules"],
        "optical_modules_per_chip": totals["optical_modules_per_chip"],
        "switch_chips": totals["switch_chips"],
        "copper_cables": totals["copper_cables"],
        "capex_usd": totals["capex_usd"],
        "w_per_bf16_tflops": totals["power_kw"] / bf16 if bf16 else None,
        "unpriced_parts": fabric.unpriced_parts(),  # left out of capex_usd (a lower bound then)
    }


def ratios(rows: dict[str, dict]) -> dict[str, dict]:
    """Each system's figures divided by the first system's; no capex ratio where either capex
    leaves unpriced parts out."""
    names = list(rows)
    base = rows[names[0]]

    def ratio(row, k, v):
        if k == "capex_usd" and (row["unpriced_parts"] or base["unpriced_parts"]):
            return None
        return v / base[k] if isinstance(v, int | float) and base[k] else None

    return {
        name: {k: ratio(rows[name], k, v) for k, v in rows[name].items() if k != "unpriced_parts"}
        for name in names
    }
