"""A fabric ready to simulate: its graph, one router per tier, and calibrated link capacities."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from podwright.errors import InputError
from podwright.estimate.calibration import chip_factors, constants
from podwright.sim.network.graph import NetGraph, from_fabric
from podwright.sim.network.routing import MODES, Pieces, TierRouter, TorusRouter
from podwright.sim.network.solver import Incidence
from podwright.topology import Fabric
from podwright.topology.torus import slice_dims

# fixed software cost of one algorithm step (kernel launch, protocol handshake), microseconds:
# the same constants as estimate/network.py uses for its latency term
STEP_OVERHEAD_US = {"scale_up": 2.0, "scale_out": 5.0}


@dataclass
class Phase:
    """Flows that run concurrently; the phase repeats `repeat` times (equal ring steps)."""

    name: str
    src: np.ndarray
    dst: np.ndarray
    nbytes: np.ndarray  # bytes per flow (inf: background flow)
    repeat: int = 1
    inr: np.ndarray | None = None  # +1: chip -> its switches (reduction in the switch), -1: back
    salt: np.ndarray | None = None  # channel id, varies ECMP hashes of the same pair
    inr_phase: bool = False


@dataclass
class Network:
    fabric: Fabric
    ng: NetGraph
    mode: str
    calibrated: bool
    eff: np.ndarray  # per tier: achieved / nominal for flows without in-network reduction
    inr_eff: float  # scale-up links running in-switch reduction (NVLS-style)
    routers: dict = field(default_factory=dict)

    @classmethod
    def of(cls, fabric: Fabric, fail=(), slow=(), mode="spray", calibrated=True) -> Network:
        if mode not in MODES:
            raise InputError("routing", f"must be one of {', '.join(MODES)} (got {mode!r})")
        ng = from_fabric(fabric, fail, slow)
        f = chip_factors(fabric.chip.name)
        ring = constants()["ring_busbw_fraction"].value
        up = f["scale_up_busbw_fraction"].value
        out = f["scale_out_busbw_fraction"].value
        d = max(2, fabric.scale_up.group if fabric.scale_up else 2)
        if calibrated:
            eff = np.array([min(up, ring), out])
            # the busbw fraction is measured on one full scale-up domain; an in-switch
            # all-reduce moves S up and S down per chip, i.e. busbw = 2(d-1)/d x link rate
            inr = up * d / (2 * (d - 1))
        else:
            eff, inr = np.ones(2), 1.0
        return cls(fabric, ng, mode, calibrated, eff, inr)

    def router(self, tier: int):
        if tier not in self.routers:
            su = self.fabric.system.scale_up
            if tier == 0 and su.kind == "torus":
                if su.ocs:
                    shapes = [(0, slice_dims(self.fabric.system, self.fabric.chips))]
                else:
                    block = math.prod(su.dims)
                    shapes = [(s, tuple(su.dims)) for s in range(0, self.fabric.chips, block)]
                self.routers[tier] = TorusRouter(self.ng, shapes)
            else:
                self.routers[tier] = TierRouter(self.ng, tier)
        return self.routers[tier]

    def capacity(self, inr: bool = False) -> np.ndarray:
        """Link capacities in bytes/s for a phase."""
        eff = self.eff.copy()
        if inr:
            eff[0] = self.inr_eff
        return self.ng.cap * 1e9 * eff[self.ng.tier]

    # -- routing a phase ------------------------------------------------------------------
    def incidence(self, ph: Phase) -> Incidence:
        ng = self.ng
        n = len(ph.src)
        a = np.asarray(ph.src, dtype=np.int64)
        b = np.asarray(ph.dst, dtype=np.int64)
        if n and (a.min() < 0 or max(a.max(), b.max()) >= ng.chips):
            raise InputError("group", f"chips beyond the {ng.chips} of this fabric")
        salt = np.zeros(n, dtype=np.int64) if ph.salt is None else np.asarray(ph.salt)
        fid = np.arange(n, dtype=np.int64)
        out = Pieces()
        inr = np.zeros(n, dtype=np.int8) if ph.inr is None else np.asarray(ph.inr)
        # in-network reduction: the chip's links to its scale-up switches
        for sign in (1, -1):
            sel = inr == sign
            if sel.any():
                r = self.router(0)
                if not isinstance(r, TierRouter) or r.chip_routers:
                    raise InputError("algorithm", "in-network reduction needs a switched scale-up")
                fa = a[sel]
                deg = r.att_deg[fa]
                rows = np.repeat(fid[sel], deg)
                k = _ragged_att(r, fa)
                capw = r.att_cap[k]
                tot = np.bincount(np.repeat(np.arange(len(fa)), deg), weights=capw)
                w = capw / np.repeat(tot, deg)
                links = r.att_link[k] if sign > 0 else r.att_in[k]
                out.links(rows, links, w)
        norm = (inr == 0) & (a != b)
        same = ng.domain[a] == ng.domain[b]
        up = norm & same
        self.router(0).route(fid[up], a[up], b[up], self.mode, salt[up], out)
        cross = norm & ~same
        if cross.any():
            ca, cb = a[cross], b[cross]
            if ng.rails > 1:
                la, lb = ca % ng.node_chips, cb % ng.node_chips
                via = ca - la + lb
                hop = (la % ng.rails != lb % ng.rails) & (
                    ng.domain[np.minimum(via, ng.chips - 1)] == ng.domain[ca]
                )
                hop &= via < ng.chips
                self.router(0).route(
                    fid[cross][hop], ca[hop], via[hop], self.mode, salt[cross][hop], out
                )
                ca = np.where(hop, via, ca)
            self.router(1).route(fid[cross], ca, cb, self.mode, salt[cross], out)
        D = sparse.coo_matrix(
            (
                Pieces.cat(out.lw, float),
                (Pieces.cat(out.lf, np.int64), Pieces.cat(out.ll, np.int64)),
            ),
            shape=(n, ng.links),
        ).tocsr()
        C = B = None
        if out.sf:
            cr, cc, cv, br, bl, bv = [], [], [], [], [], []
            base = 0
            by_router: dict = {}
            for router, f, key, w in out.sf:
                by_router.setdefault(id(router), (router, []))[1].append((f, key, w))
            for router, parts in by_router.values():
                f = np.concatenate([p[0] for p in parts])
                key = np.concatenate([p[1] for p in parts])
                w = np.concatenate([p[2] for p in parts])
                uk, inv = np.unique(key, return_inverse=True)
                rr, ll, vv = router.segment_matrix(uk // ng.vertices, uk % ng.vertices)
                cr.append(f)
                cc.append(inv + base)
                cv.append(w)
                br.append(rr + base)
                bl.append(ll)
                bv.append(vv)
                base += len(uk)
            C = sparse.coo_matrix(
                (np.concatenate(cv), (np.concatenate(cr), np.concatenate(cc))), shape=(n, base)
            )
            B = sparse.coo_matrix(
                (np.concatenate(bv), (np.concatenate(br), np.concatenate(bl))),
                shape=(base, ng.links),
            )
        return Incidence(D, C, B)


def _ragged_att(r: TierRouter, chips: np.ndarray) -> np.ndarray:
    from podwright.sim.network.routing import ragged

    return ragged(r.att_ptr[chips], r.att_deg[chips])
