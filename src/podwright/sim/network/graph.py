"""The simulator's view of a fabric graph: parallel links merged into bundles, what-ifs applied.

`Fabric.graph()` lists every physical link twice (one edge per direction). Here the parallel
edges between the same two vertices become one *link* (a bundle) whose capacity is their sum:
packet spraying and adaptive routing spread over a bundle's members, and ECMP hashing picks a
member in proportion to its count (see routing.py). Failed links and switch chips are removed
before the bundles are formed; a straggler chip has its links slowed by a factor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from podwright.errors import InputError
from podwright.topology import Fabric

TIERS = ("scale_up", "scale_out")


@dataclass
class NetGraph:
    names: list[str]
    kinds: np.ndarray  # 0 chip, 1 switch/nic/ocs
    chips: int
    src: np.ndarray  # per link (bundle)
    dst: np.ndarray
    cap: np.ndarray  # GB/s, one direction
    latency_us: np.ndarray
    tier: np.ndarray  # index into TIERS
    count: np.ndarray  # physical links in the bundle
    label: np.ndarray  # link class, e.g. "scale_out t1>t2"
    node_chips: int
    rails: int
    domain: np.ndarray  # scale-up component per chip
    notes: list[str]

    @property
    def vertices(self) -> int:
        return len(self.names)

    @property
    def links(self) -> int:
        return len(self.src)

    def link_ids(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Link id of a->b for each pair (-1 where there is none)."""
        key = np.asarray(a, dtype=np.int64) * self.vertices + np.asarray(b, dtype=np.int64)
        pos = np.searchsorted(self._keys, key)
        pos = np.minimum(pos, len(self._keys) - 1)
        return np.where(self._keys[pos] == key, self._order[pos], -1)

    def index_keys(self) -> None:
        key = self.src * self.vertices + self.dst
        self._order = np.argsort(key, kind="stable")
        self._keys = key[self._order]

    def vertex(self, name: str, field: str = "fail") -> int:
        try:
            return self._by_name[name]
        except AttributeError:
            self._by_name = {n: i for i, n in enumerate(self.names)}
            return self.vertex(name, field)
        except KeyError:
            raise InputError(
                field, f"no vertex '{name}' in this fabric (e.g. {self.names[0]}, {self.names[-1]})"
            ) from None


def _level(name: str) -> str:
    if name.startswith("chip"):
        return "chip"
    m = re.search(r"\.(t\d+|l\d+)\.", name + ".")
    return m.group(1) if m else "switch"


def parse_fail(spec: str) -> tuple[str, list[str]]:
    kind, _, rest = spec.partition(":")
    if kind not in ("link", "switch") or not rest:
        raise InputError("fail", f"'{spec}': use link:A-B or switch:NAME (vertex names)")
    if kind == "link":
        ends = rest.split("-")
        if len(ends) != 2 or not all(ends):
            raise InputError("fail", f"'{spec}': a link is named link:A-B")
        return kind, ends
    return kind, [rest]


def parse_slow(spec: str) -> tuple[str, float]:
    name, _, factor = spec.partition(":")
    try:
        f = float(factor) if factor else 0.5
    except ValueError:
        raise InputError("slow", f"'{spec}': use CHIP[:FACTOR], e.g. chip17:0.5") from None
    if not 0 < f <= 1:
        raise InputError("slow", f"'{spec}': factor must be in (0, 1]")
    return name, f


def from_fabric(fabric: Fabric, fail=(), slow=()) -> NetGraph:
    g = fabric.graph()
    names = list(g.names)
    n = len(names)
    kinds = np.array([0 if k == "chip" else 1 for k in g.kinds], dtype=np.int8)
    by_name = {nm: i for i, nm in enumerate(names)}
    src, dst, cap = g.src.copy(), g.dst.copy(), g.capacity.copy()
    tier = np.array([TIERS.index(t) for t in g.tier], dtype=np.int8)
    keep = np.ones(len(src), dtype=bool)
    notes = []

    def vid(name: str, field: str) -> int:
        if name not in by_name:
            raise InputError(
                field, f"no vertex '{name}' in {fabric.system.name} (e.g. {names[0]}, {names[-1]})"
            )
        return by_name[name]

    for spec in fail:
        kind, ends = parse_fail(spec)
        if kind == "switch":
            v = vid(ends[0], "fail")
            if kinds[v] == 0:
                raise InputError("fail", f"'{ends[0]}' is a chip, not a switch")
            hit = (src == v) | (dst == v)
        else:
            a, b = vid(ends[0], "fail"), vid(ends[1], "fail")
            hit = ((src == a) & (dst == b)) | ((src == b) & (dst == a))
            if not hit.any():
                raise InputError("fail", f"no link between {ends[0]} and {ends[1]}")
        keep &= ~hit
        notes.append(f"failed {spec}: {int(hit.sum()) // 2} physical link(s) removed")
    for spec in slow:
        name, f = parse_slow(spec)
        v = vid(name, "slow")
        cap[(src == v) | (dst == v)] *= f
        notes.append(f"straggler {name}: its links at {f:g}x")
    src, dst, cap, tier = src[keep], dst[keep], cap[keep], tier[keep]
    lat = g.latency_us[keep]
    key = src * n + dst
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    bcap = np.bincount(inv, weights=cap, minlength=len(uniq))
    first = np.zeros(len(uniq), dtype=np.int64)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    lsrc, ldst = uniq // n, uniq % n
    levels = np.array([_level(nm) for nm in names])
    label = np.char.add(
        np.char.add(np.array(TIERS)[tier[first]], " "),
        np.char.add(np.char.add(levels[lsrc], ">"), levels[ldst]),
    )
    chips = int((kinds == 0).sum())
    su = tier[first] == 0
    both_chip_or_su = su
    m = coo_matrix(
        (np.ones(int(both_chip_or_su.sum())), (lsrc[su], ldst[su])), shape=(n, n)
    ).tocsr()
    _, comp = connected_components(m, directed=False)
    so = fabric.system.scale_out
    ng = NetGraph(
        names=names,
        kinds=kinds,
        chips=chips,
        src=lsrc,
        dst=ldst,
        cap=bcap,
        latency_us=lat[first],
        tier=tier[first],
        count=counts,
        label=label,
        node_chips=fabric.system.node.chips,
        rails=int(so.rails) if so.kind != "none" else 1,
        domain=comp[:chips],
        notes=notes,
    )
    ng._by_name = by_name
    ng.index_keys()
    return ng
