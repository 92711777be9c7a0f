"""Collective communication costed on the fabric levels a group actually spans (vectorised).

A group of `group` chips whose members sit `stride` chips apart (Megatron placement: TP
innermost, then CP, EP, DP, PP) has m0 = min(group, domain // stride) members inside one
scale-up domain and group / m0 domains. Collectives are hierarchical: the in-domain part runs at
the scale-up bandwidth available to m0 members, the rest at the scale-out bandwidth per chip of
the level that holds the whole span (its oversubscription included). Every chip of a domain has
its own NIC (rails), so the in-domain members cross the scale-out in parallel.

Times are bandwidth terms (ring/pairwise algorithms, nccl-tests bus-bandwidth convention) plus a
latency term per algorithm step from the levels' switch hops (switch parts' latency_ns) and a
software latency once per call (NCCL's own tuning model's base latency,
calibration/defaults.yaml collective_latency_us). With `nccl_ramp` (training, whose collectives
are NCCL calls) the in-domain part of an all-reduce / reduce-scatter / all-gather of S bytes takes
at least its bandwidth term over busbw(S) / busbw(largest) of the chip's measured NCCL sweep
(catalog/measurements/allreduce_ramp.yaml): mid-size messages (1-100 MB) do not reach the
asymptotic bus bandwidth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from podwright.estimate.calibration import allreduce_ramp, chip_factors, constants
from podwright.topology import Fabric

RAMPED = ("all_reduce", "reduce_scatter", "all_gather")


@dataclass(frozen=True)
class NetworkModel:
    """What the collectives need from a Fabric, reduced to a few numbers and arrays."""

    domain: int
    up_kind: str
    up_bw: float  # GB/s per chip, one direction, nominal
    up_link_bw: float  # one link
    up_dims: tuple[int, ...]
    up_inr: bool  # in-network reduction in the scale-up switches
    up_latency_us: float
    out_groups: np.ndarray  # scale-out level group sizes (chips)
    out_bw: np.ndarray  # GB/s per chip for traffic spanning that level
    out_latency_us: np.ndarray
    up_eff: float
    out_eff: float
    ring_eff: float
    has_scale_out: bool
    a2a_eff: float | None = None  # measured all-to-all fraction inside the domain, if any
    floor: float = 0.0  # seconds: the least time one collective kernel takes
    base: float = 0.0  # seconds of software latency per collective call
    # measured NCCL all-reduce ramp inside the domain: log bytes, busbw / largest busbw
    ramp_log_bytes: tuple[float, ...] = ()
    ramp_fraction: tuple[float, ...] = ()
    nccl_ramp: bool = False  # apply the ramp (training's NCCL collectives)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, fabric: Fabric, side: int = 0) -> NetworkModel:
        f = chip_factors(fabric.chip.name)
        ring = constants()["ring_busbw_fraction"].at(side)
        up = fabric.scale_up
        outs = [lv for lv in fabric.levels if lv.fabric == "scale_out"]
        port = fabric.chip.scale_up
        return cls(
            domain=up.group if up else 1,
            up_kind=up.kind if up else "none",
            up_bw=up.bw if up else 0.0,
            up_link_bw=port.link_bw,
            up_dims=up.dims if up else (),
            up_inr=bool(up and up.in_network_reduction),
            up_latency_us=up.latency_us if up else 0.0,
            out_groups=np.array([lv.group for lv in outs] or [fabric.chips], dtype=float),
            out_bw=np.array([lv.bw for lv in outs] or [up.bw if up else 1.0], dtype=float),
            out_latency_us=np.array([lv.latency_us for lv in outs] or [0.0]),
            up_eff=f["scale_up_busbw_fraction"].at(side),
            out_eff=f["scale_out_busbw_fraction"].at(side),
            ring_eff=ring,
            has_scale_out=bool(outs),
            floor=constants()["kernel_floor_us"].at(-side) * 1e-6,
            base=constants()["collective_latency_us"].at(-side) * 1e-6,
            a2a_eff=f["scale_up_a2a_fraction"].at(side) if "scale_up_a2a_fraction" in f else None,
            ramp_log_bytes=allreduce_ramp(fabric.chip.name)[0],
            ramp_fraction=allreduce_ramp(fabric.chip.name)[1],
        )

    def with_nccl_ramp(self) -> NetworkModel:
        """This model with the measured NCCL ramp applied to in-domain collectives."""
        return dataclasses.replace(self, nccl_ramp=True, _cache={})

    # -- bandwidth available to m members of one scale-up domain ---------------------------
    def up_bandwidth(self, m: np.ndarray, reduce: bool, a2a: bool = False) -> np.ndarray:
        """In-domain bandwidth per chip: the all-reduce bus-bandwidth fraction with in-switch
        reduction, else capped at the ring fraction; all-to-all uses the chip's measured
        all-to-all fraction where it has one."""
        eff = self.up_eff if (reduce and self.up_inr) else min(self.up_eff, self.ring_eff)
        if a2a and self.a2a_eff is not None:
            eff = self.a2a_eff
        m = np.maximum(m, 1)
        if self.up_kind == "full_mesh":
            # direct links to the m-1 peers of the group only
            per = self.up_bw / max(1, sum(k - 1 for k in self.up_dims))
            bw = per * np.maximum(m - 1, 1)
        elif self.up_kind == "torus":
            side = max(self.up_dims) if self.up_dims else 1
            dims = np.clip(
                np.ceil(np.log(np.maximum(m, 2)) / np.log(max(side, 2))), 1, len(self.up_dims)
            )
            bw = 2 * self.up_link_bw * dims
        else:
            bw = np.full_like(m, self.up_bw, dtype=float)
        return bw * eff

    def out_level(self, span: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.out_groups, span, side="left")
        return np.minimum(idx, len(self.out_groups) - 1)

    def out_bandwidth(self, span: np.ndarray) -> np.ndarray:
        return self.out_bw[self.out_level(span)] * self.out_eff

    # -- collectives --------------------------------------------------------------------
    def split(self, group, stride):
        group = np.asarray(group, dtype=float)
        stride = np.maximum(np.asarray(stride, dtype=float), 1)
        inside = np.where(stride < self.domain, np.floor(self.domain / stride), 1.0)
        m0 = np.clip(inside, 1, group)
        outer = np.maximum(group / m0, 1)
        return group, stride, m0, outer

    def coefficients(self, kind: str, group, stride):
        """Per-byte and fixed seconds of the in-domain and scale-out parts of a collective on
        groups of `group` members `stride` apart (cached per array pair on this model)."""
        key = (kind, id(group), id(stride))
        hit = self._cache.get(key)
        if hit is not None:
            return hit[0]
        g_in, s_in = group, stride
        group, stride, m0, outer = self.split(group, stride)
        span = group * stride
        reduce = kind in ("all_reduce", "reduce_scatter")
        b_up = self.up_bandwidth(m0, reduce, a2a=kind == "all_to_all") * 1e9
        b_out = self.out_bandwidth(span) * 1e9
        lat_up = self.up_latency_us * 1e-6
        lat_out = self.out_latency_us[self.out_level(span)] * 1e-6
        zero = np.zeros_like(group)
        if kind == "p2p":
            cross = stride >= self.domain
            b2 = self.up_bandwidth(np.full_like(m0, 2), False) * 1e9
            coef = (np.where(cross, 0.0, 1 / b2), np.where(cross, 0.0, lat_up),
                    np.where(cross, 1 / b_out, 0.0), np.where(cross, lat_out, zero))  # fmt: skip
        elif kind == "all_to_all":
            coef = ((m0 - 1) / group / b_up, lat_up * (m0 > 1),
                    (group - m0) / group / b_out, lat_out * (outer > 1))  # fmt: skip
        else:
            passes = 2.0 if kind == "all_reduce" else 1.0
            coef = (passes * (m0 - 1) / m0 / b_up, passes * np.log2(m0) * lat_up,
                    passes * (outer - 1) / outer / m0 / b_out, passes * np.log2(outer) * lat_out)  # fmt: skip
        out = coef + (group > 1,)
        self._cache[key] = (out, g_in, s_in)  # keep the arrays alive: ids stay unique
        return out

    def time(self, kind: str, nbytes, group, stride) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, share of the time spent on the scale-out) for one collective per chip.

        nbytes: all_reduce/reduce_scatter/all_gather: the full buffer each chip holds at the end
        (or start); all_to_all: what each chip sends in total; p2p: the message. In-domain and
        scale-out parts add up, except for all-to-all, whose two parts run at once.
        """
        a_up, l_up, a_out, l_out, active = self.coefficients(kind, group, stride)
        nbytes = np.asarray(nbytes, dtype=float)
        t_up = nbytes * a_up + l_up
        if self.nccl_ramp and self.ramp_fraction and kind in RAMPED:
            size = np.log(np.maximum(nbytes, 1.0))
            ramp = np.interp(size, self.ramp_log_bytes, self.ramp_fraction)
            t_up = np.maximum(t_up, nbytes * a_up / ramp)
        t_out = nbytes * a_out + l_out
        both = t_up + t_out
        t = np.maximum(t_up, t_out) if kind == "all_to_all" else both
        t = np.where(active, np.maximum(t + self.base, self.floor), 0.0)
        share = t_out / np.maximum(both, 1e-30)
        return t, share

    def level_name(self, group, stride) -> list[str]:
        group, stride, m0, outer = self.split(np.atleast_1d(group), np.atleast_1d(stride))
        return [
            "scale-up" if o <= 1 else ("scale-up + scale-out" if m > 1 else "scale-out")
            for m, o in zip(m0, outer, strict=True)
        ]
