"""What the topology builders produce: fabric levels for the estimators, BoM counts, graphs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Level:
    """One level of the communication hierarchy, innermost first.

    `group` chips can reach each other without leaving this level; `bw` is the bandwidth per
    chip, GB/s one direction, that traffic crossing this level gets; `latency_us` the hop
    latency added by its switches.
    """

    name: str
    fabric: str  # "scale_up" | "scale_out"
    kind: str  # switched | clos | full_mesh | torus | fat_tree
    group: int
    bw: float
    latency_us: float = 0.0
    in_network_reduction: bool = False
    dims: tuple[int, ...] = ()  # full_mesh / torus dimensions
    tier: int = 1


@dataclass(frozen=True)
class BomItem:
    part: str
    category: str  # accelerator | cpu | nic | switch_chip | optical_module | copper_cable | ocs | rack | cooling | node
    tier: str  # compute | scale_up | scale_out | facility
    count: float
    unit_power_w: float = 0.0
    unit_cost_usd: float = 0.0
    note: str = ""
    priced: bool = True  # False: the catalog has no sourced price (unit_cost_usd 0 stands in)

    @property
    def power_w(self) -> float:
        return self.count * self.unit_power_w

    @property
    def cost_usd(self) -> float:
        return self.count * self.unit_cost_usd

    def as_dict(self) -> dict:
        return {
            "part": self.part,
            "category": self.category,
            "tier": self.tier,
            "count": _tidy(self.count),
            "unit_power_w": _tidy(self.unit_power_w),
            "unit_cost_usd": _tidy(self.unit_cost_usd) if self.priced else None,
        }


def _tidy(x: float):
    return int(round(x)) if abs(x - round(x)) < 1e-9 else round(x, 3)


@dataclass
class FabricPart:
    """What one builder returns for one fabric (scale-up or scale-out)."""

    levels: list[Level] = field(default_factory=list)
    items: list[BomItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Graph:
    """An explicit fabric graph: vertices (chips first, then NICs/switches) and directed links.

    Each physical link appears twice (one edge per direction) with `capacity` GB/s.
    """

    kinds: list[str]  # vertex kind per id: chip | nic | switch | ocs
    names: list[str]
    src: np.ndarray
    dst: np.ndarray
    capacity: np.ndarray  # GB/s
    latency_us: np.ndarray
    tier: list[str]  # label per edge

    @property
    def chips(self) -> int:
        return sum(1 for k in self.kinds if k == "chip")

    @property
    def vertices(self) -> int:
        return len(self.kinds)


class GraphBuilder:
    """Accumulates vertices and bidirectional links for a Graph."""

    def __init__(self):
        self.kinds: list[str] = []
        self.names: list[str] = []
        self._edges: list[tuple[int, int, float, float, str]] = []

    def vertex(self, kind: str, name: str) -> int:
        self.kinds.append(kind)
        self.names.append(name)
        return len(self.kinds) - 1

    def link(self, a: int, b: int, capacity: float, latency_us: float, tier: str) -> None:
        self._edges.append((a, b, capacity, latency_us, tier))
        self._edges.append((b, a, capacity, latency_us, tier))

    def build(self) -> Graph:
        e = self._edges
        return Graph(
            kinds=self.kinds,
            names=self.names,
            src=np.array([x[0] for x in e], dtype=np.int64),
            dst=np.array([x[1] for x in e], dtype=np.int64),
            capacity=np.array([x[2] for x in e], dtype=float),
            latency_us=np.array([x[3] for x in e], dtype=float),
            tier=[x[4] for x in e],
        )
