"""Routing flows on the fabric graph, vectorised over flows.

Rules (chosen per tier from the graph, not per system):
- switch fabrics (single-tier switched, two-tier Clos with planes, fat trees): shortest paths.
  A chip first enters one of its attached switches (NVSwitches, the L1 of each UB plane, its
  leaf); of all (entry, exit) switch pairs the nearest ones are used, split over entries in
  proportion to the chip's link capacity to them (planes, NVSwitch link counts). Between the
  entry and exit switch the traffic follows all equal-cost paths:
  - ``spray`` (packet spraying / adaptive routing): a fluid split at every hop in proportion
    to the capacity of the next-hop links on shortest paths;
  - ``ecmp``: one path per flow, chosen at every hop by a hash of (source, destination,
    channel) among the equal-cost next hops (members of a bundle weighted by their count).
- full mesh: shortest paths with chips as routers (the direct link in one dimension).
- torus: dimension-order routing, the shorter way round each ring (a tie at k/2 is split half
  and half under ``spray``, taken in the + direction under ``ecmp``).
- scale-out with rails > 1 (rail-optimised): traffic to a chip on another rail first crosses
  the scale-up to the chip of the source node on the destination's rail (NCCL PXN), then stays
  on that rail.

A route is returned as sparse pieces: per-flow entries on links (first/last hops, ECMP paths)
and, under spraying, per-flow entries on shared *segments* (entry switch -> exit switch) whose
link weights are computed once, so that 147,072 sprayed flows across 112 spine paths need a few
million matrix entries rather than tens of millions.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components, shortest_path

from podwright.errors import InputError
from podwright.sim.network.graph import NetGraph

MODES = ("spray", "ecmp")


def ragged(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for each (s, c)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    base = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)
    return base + np.arange(total, dtype=np.int64)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class Pieces:
    """Accumulates a route: (flow, link, weight) entries and (flow, segment, weight) entries."""

    def __init__(self):
        self.lf, self.ll, self.lw = [], [], []
        self.sf = []

    def links(self, f, link, w):
        self.lf.append(np.asarray(f, dtype=np.int64))
        self.ll.append(np.asarray(link, dtype=np.int64))
        self.lw.append(np.broadcast_to(np.asarray(w, dtype=float), np.shape(f)).copy())

    def segs(self, router, f, key, w):
        self.sf.append(
            (
                router,
                np.asarray(f, dtype=np.int64),
                np.asarray(key, dtype=np.int64),
                np.broadcast_to(np.asarray(w, dtype=float), np.shape(f)).copy(),
            )
        )

    @staticmethod
    def cat(parts, dtype):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class TierRouter:
    """Shortest-path routing within one tier (scale_up or scale_out) of a NetGraph."""

    def __init__(self, ng: NetGraph, tier: int):
        self.ng = ng
        on = (ng.tier == tier) & (ng.cap > 0)
        lid = np.flatnonzero(on)
        s, d = ng.src[lid], ng.dst[lid]
        chip = ng.kinds == 0
        self.chip_routers = bool((chip[s] & chip[d]).any())
        V = ng.vertices
        is_router = np.zeros(V, dtype=bool)
        is_router[s[~chip[s]]] = True
        is_router[d[~chip[d]]] = True
        if self.chip_routers:
            is_router[s[chip[s]]] = True
        self.is_router = is_router
        # attachments: chip -> router links (none where chips are routers themselves)
        V_chips = ng.chips
        if self.chip_routers:
            has = np.zeros(V_chips, dtype=bool)
            has[s[chip[s]]] = True
            self.att_ptr = np.concatenate([[0], np.cumsum(has)]).astype(np.int64)
            self.att_v = np.flatnonzero(has)
            self.att_link = np.full(len(self.att_v), -1, dtype=np.int64)
            self.att_in = self.att_link.copy()
            self.att_cap = np.ones(len(self.att_v))
        else:
            al = chip[s] & is_router[d]
            order = np.lexsort((d[al], s[al]))
            a_chip, a_v, a_link = s[al][order], d[al][order], lid[al][order]
            self.att_ptr = np.concatenate(
                [[0], np.cumsum(np.bincount(a_chip, minlength=V_chips))]
            ).astype(np.int64)
            self.att_v = a_v
            self.att_link = a_link
            self.att_cap = ng.cap[a_link]
            self.att_in = ng.link_ids(a_v, a_chip)
        self.att_deg = np.diff(self.att_ptr)
        # router-router links, components, local indices
        rl = is_router[s] & is_router[d]
        self.r_link = lid[rl]
        rs, rd = s[rl], d[rl]
        m = sparse.coo_matrix((np.ones(len(rs)), (rs, rd)), shape=(V, V)).tocsr()
        _, comp = connected_components(m, directed=False)
        self.comp = comp
        routers = np.flatnonzero(is_router)
        order = np.argsort(comp[routers], kind="stable")
        routers = routers[order]
        rc = comp[routers]
        self.rloc = np.full(V, -1, dtype=np.int64)
        starts = np.searchsorted(rc, rc, side="left")
        self.rloc[routers] = np.arange(len(routers)) - starts
        self.comp_size = np.bincount(rc, minlength=comp.max() + 1)
        self.comp_routers = {}
        # links per component (local ends), for propagation and the ECMP walk
        lc = comp[rs]
        lo = np.argsort(lc, kind="stable")
        self.cl_comp = lc[lo]
        self.cl_s, self.cl_d, self.cl_id = rs[lo], rd[lo], self.r_link[lo]
        self.cl_start = np.searchsorted(self.cl_comp, np.arange(comp.max() + 2))
        self.routers_sorted, self.routers_comp = routers, rc
        self.rc_start = np.searchsorted(rc, np.arange(comp.max() + 2))
        # adjacency (global ids) for the ECMP walk
        o2 = np.argsort(rs, kind="stable")
        self.adj_ptr = np.concatenate([[0], np.cumsum(np.bincount(rs, minlength=V))])
        self.adj_link, self.adj_head = self.r_link[o2], rd[o2]
        self.adj_count = ng.count[self.adj_link]
        # distances to targets, computed on demand: flat rows over each target's component
        self.slot = np.full(V, -1, dtype=np.int64)
        self.off: list[int] = []
        self.rows: list[np.ndarray] = []
        self.flat = np.zeros(0, dtype=np.int32)
        self.flat_off = np.zeros(0, dtype=np.int64)
        # attachment signatures: chips with the same entry switches and capacities
        self._signatures()

    def _signatures(self):
        deg = self.att_deg
        k = int(deg.max()) if len(deg) else 0
        n = len(deg)
        mat = np.full((n, 2 * k + 1), -1.0)
        mat[:, 0] = deg
        if k:
            pos = ragged(self.att_ptr[:-1], deg) - np.repeat(self.att_ptr[:-1], deg)
            rows = np.repeat(np.arange(n), deg)
            mat[rows, 1 + pos] = self.att_v
            mat[rows, 1 + k + pos] = self.att_cap
        _, first, inv = np.unique(mat, axis=0, return_index=True, return_inverse=True)
        self.sig = inv.ravel()
        self.sig_rep = first

    # -- distances ---------------------------------------------------------------------
    def ensure(self, targets: np.ndarray) -> None:
        targets = np.unique(targets)
        new = targets[self.slot[targets] < 0]
        if not len(new):
            return
        comps = self.comp[new]
        rows = []
        for c in np.unique(comps):
            ws = new[comps == c]
            lo, hi = self.rc_start[c], self.rc_start[c + 1]
            size = hi - lo
            if size == 1:
                rows += [(w, np.zeros(1, dtype=np.int32)) for w in ws]
                continue
            a, b = self.cl_start[c], self.cl_start[c + 1]
            m = sparse.coo_matrix(
                (np.ones(b - a), (self.rloc[self.cl_s[a:b]], self.rloc[self.cl_d[a:b]])),
                shape=(size, size),
            ).tocsr()
            dist = shortest_path(m, unweighted=True, directed=False, indices=self.rloc[ws])
            dist = np.where(np.isfinite(dist), dist, -1).astype(np.int32)
            rows += list(zip(ws, dist, strict=True))
        base = len(self.flat)
        offs, chunks = [], []
        for w, r in rows:
            self.slot[w] = len(self.flat_off) + len(offs)
            offs.append(base)
            chunks.append(r)
            base += len(r)
        self.flat = np.concatenate([self.flat, *chunks])
        self.flat_off = np.concatenate([self.flat_off, np.array(offs, dtype=np.int64)])

    def dist(self, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Hops from router v to router w (-1: unreachable); targets must be ensured."""
        same = self.comp[v] == self.comp[w]
        idx = self.flat_off[self.slot[w]] + np.where(same, self.rloc[v], 0)
        return np.where(same, self.flat[idx], -1)

    # -- routes ------------------------------------------------------------------------
    def route(self, fid, a, b, mode: str, salt, out: Pieces) -> None:
        """Add routes for flows fid: chip a -> chip b (different chips) within this tier."""
        if not len(fid):
            return
        sa, sb = self.sig[a], self.sig[b]
        nsig = len(self.sig_rep)
        pair = sa.astype(np.int64) * nsig + sb
        upair, pinv = np.unique(pair, return_inverse=True)
        pa, pb = self.sig_rep[upair // nsig], self.sig_rep[upair % nsig]
        da, db = self.att_deg[pa], self.att_deg[pb]
        if (da == 0).any() or (db == 0).any():
            bad = np.flatnonzero((da == 0) | (db == 0))[0]
            chip = pa[bad] if da[bad] == 0 else pb[bad]
            raise InputError("fail", f"{self.ng.names[chip]} has no working link left")
        # combos (pair, i, j)
        nc = da * db
        cp = np.repeat(np.arange(len(upair)), nc)
        k = ragged(np.zeros(len(upair), dtype=np.int64), nc)
        ci, cj = k // db[cp], k % db[cp]
        u = self.att_v[self.att_ptr[pa[cp]] + ci]
        w = self.att_v[self.att_ptr[pb[cp]] + cj]
        self.ensure(w)
        d = self.dist(u, w)
        d = np.where(d < 0, np.iinfo(np.int32).max, d)
        dmin = np.full(len(upair), np.iinfo(np.int32).max)
        np.minimum.at(dmin, cp, d)
        if (dmin == np.iinfo(np.int32).max).any():
            bad = np.flatnonzero(dmin == np.iinfo(np.int32).max)[0]
            raise InputError(
                "fail",
                f"no route from {self.ng.names[pa[bad]]} to {self.ng.names[pb[bad]]} "
                "within its fabric",
            )
        elig = d == dmin[cp]
        capa = self.att_cap[self.att_ptr[pa[cp]] + ci]
        capb = self.att_cap[self.att_ptr[pb[cp]] + cj]
        maxd = int(max(da.max(), 1))
        gi = cp * maxd + ci
        ugi, ginv = np.unique(gi, return_inverse=True)
        gel = np.bincount(ginv, weights=elig) > 0
        gcap = np.zeros(len(ugi))
        gcap[ginv] = capa
        gpair = ugi // maxd
        den_a = np.bincount(gpair, weights=gcap * gel, minlength=len(upair))
        den_b = np.bincount(ginv, weights=capb * elig, minlength=len(ugi))
        frac = np.where(elig, capa / den_a[cp] * capb / np.maximum(den_b[ginv], 1e-300), 0.0)
        keep = frac > 0
        cp, ci, cj, u, w, frac = cp[keep], ci[keep], cj[keep], u[keep], w[keep], frac[keep]
        # expand to flows
        order = np.argsort(cp, kind="stable")
        cp, ci, cj, u, w, frac = cp[order], ci[order], cj[order], u[order], w[order], frac[order]
        cstart = np.searchsorted(cp, np.arange(len(upair)))
        ccount = np.diff(np.append(cstart, len(cp)))
        if mode == "ecmp":
            # one (entry, exit) pair per flow, drawn by hash in proportion to frac
            h = mix(
                mix(a.astype(np.uint64) * np.uint64(1 << 32) + b.astype(np.uint64))
                + salt.astype(np.uint64)
            )
            r = (h >> np.uint64(11)).astype(float) / float(1 << 53)
            cum = np.cumsum(frac)
            base = np.where(cstart[pinv] > 0, cum[cstart[pinv] - 1], 0.0)
            target = base + r * (cum[cstart[pinv] + ccount[pinv] - 1] - base)
            pick = np.searchsorted(cum, target, side="right")
            pick = np.clip(pick, cstart[pinv], cstart[pinv] + ccount[pinv] - 1)
            f_e, c_e, wt = fid, pick, np.ones(len(fid))
            rows = np.arange(len(fid))
        else:
            rows = np.repeat(np.arange(len(fid)), ccount[pinv])
            c_e = ragged(cstart[pinv], ccount[pinv])
            f_e, wt = fid[rows], frac[c_e]
        af, bf = a[rows], b[rows]
        first = self.att_link[self.att_ptr[af] + ci[c_e]]
        last = self.att_in[self.att_ptr[bf] + cj[c_e]]
        m = first >= 0
        out.links(f_e[m], first[m], wt[m])
        m = last >= 0
        out.links(f_e[m], last[m], wt[m])
        mid = u[c_e] != w[c_e]
        if not mid.any():
            return
        if mode == "ecmp":
            self._walk(
                f_e[mid], u[c_e][mid], w[c_e][mid], a[rows][mid], b[rows][mid], salt[mid], out
            )
            return
        key = u[c_e][mid] * self.ng.vertices + w[c_e][mid]
        out.segs(self, f_e[mid], key, wt[mid])

    def _walk(self, fid, u, w, a, b, salt, out: Pieces) -> None:
        cur = u.copy()
        idx = np.arange(len(fid))
        step = 0
        while len(idx):
            c, t = cur[idx], w[idx]
            deg = self.adj_ptr[c + 1] - self.adj_ptr[c]
            rows = np.repeat(np.arange(len(idx)), deg)
            k = ragged(self.adj_ptr[c], deg)
            head = self.adj_head[k]
            dh = self.dist(head, t[rows])
            dc = self.dist(c, t)
            ok = dh == dc[rows] - 1
            wgt = np.where(ok, self.adj_count[k], 0).astype(float)
            tot = np.bincount(rows, weights=wgt, minlength=len(idx))
            h = mix(
                mix(a[idx].astype(np.uint64) * np.uint64(1 << 32) + b[idx].astype(np.uint64))
                + salt[idx].astype(np.uint64)
                + np.uint64(7919 * (step + 1))
            )
            r = (h >> np.uint64(11)).astype(float) / float(1 << 53) * tot
            cum = np.cumsum(wgt)
            startcum = np.concatenate([[0.0], cum])[np.searchsorted(rows, np.arange(len(idx)))]
            pick = np.searchsorted(cum, startcum + r, side="right")
            pick = np.minimum(pick, len(k) - 1)
            out.links(fid[idx], self.adj_link[k[pick]], 1.0)
            cur[idx] = head[pick]
            idx = idx[cur[idx] != w[idx]]
            step += 1
            if step > 64:
                raise InputError("fail", "routing did not converge (disconnected fabric?)")

    def segment_matrix(self, us: np.ndarray, ws: np.ndarray) -> tuple:
        """Link weights of the sprayed segments u -> w: (row, link, weight) arrays."""
        rr, ll, vv = [], [], []
        self.ensure(ws)
        order = np.argsort(ws, kind="stable")
        us_o, ws_o = us[order], ws[order]
        bounds = np.flatnonzero(np.diff(ws_o)) + 1
        for grp in np.split(np.arange(len(ws_o)), bounds):
            w = int(ws_o[grp[0]])
            c = self.comp[w]
            lo, hi = self.cl_start[c], self.cl_start[c + 1]
            size = self.comp_size[c]
            row = self.flat[self.flat_off[self.slot[w]] : self.flat_off[self.slot[w]] + size]
            ls, ld = self.rloc[self.cl_s[lo:hi]], self.rloc[self.cl_d[lo:hi]]
            lid = self.cl_id[lo:hi]
            ok = (row[ld] == row[ls] - 1) & (row[ls] > 0)
            cap = np.where(ok, self.ng.cap[lid], 0.0)
            den = np.bincount(ls, weights=cap, minlength=size)
            wt = np.where(ok, cap / np.maximum(den[ls], 1e-300), 0.0)
            nl = hi - lo
            N = sparse.csr_matrix((wt, (ls, np.arange(nl))), shape=(size, nl))
            H = sparse.csr_matrix((np.ones(nl), (np.arange(nl), ld)), shape=(nl, size))
            P = (N @ H).tocsr()
            src = self.rloc[us_o[grp]]
            M = sparse.csr_matrix(
                (np.ones(len(grp)), (np.arange(len(grp)), src)), shape=(len(grp), size)
            )
            L = sparse.csr_matrix((len(grp), nl))
            for _ in range(int(row[src].max())):
                L = L + M @ N
                M = M @ P
            L = L.tocoo()
            rr.append(order[grp][L.row])
            ll.append(lid[L.col])
            vv.append(L.data)
        return np.concatenate(rr), np.concatenate(ll), np.concatenate(vv)


class TorusRouter:
    """Dimension-order routing on a torus (chips are the routers)."""

    def __init__(self, ng: NetGraph, shapes: list[tuple[int, tuple[int, ...]]]):
        self.ng = ng
        self.shapes = shapes  # (first chip, dims) per torus

    def route(self, fid, a, b, mode, salt, out: Pieces) -> None:
        for start, dims in self.shapes:
            size = int(np.prod(dims))
            sel = (a >= start) & (a < start + size)
            if not sel.any():
                continue
            f, la, lb = fid[sel], a[sel] - start, b[sel] - start
            strides = [int(np.prod(dims[:i])) for i in range(len(dims))]
            cur = la.copy()
            for i, k in enumerate(dims):
                if k < 2:
                    continue
                ca, cb = (cur // strides[i]) % k, (lb // strides[i]) % k
                delta = (cb - ca) % k
                fwd = delta < k - delta
                tie = (2 * delta == k) & (delta > 0)
                for direction, hops, w in self._splits(delta, k, fwd, tie, mode):
                    n = hops
                    rows = np.repeat(np.arange(len(f)), n)
                    s = ragged(np.zeros(len(f), dtype=np.int64), n)
                    coord = (ca[rows] + direction[rows] * s) % k
                    v = cur[rows] + (coord - ca[rows]) * strides[i]
                    nxt = cur[rows] + (((coord + direction[rows]) % k) - ca[rows]) * strides[i]
                    lid = self.ng.link_ids(v + start, nxt + start)
                    if (lid < 0).any():
                        raise InputError("fail", "a torus link on a dimension-order route failed")
                    out.links(f[rows], lid, w[rows])
                cur = cur + (cb - ca) * strides[i]

    @staticmethod
    def _splits(delta, k, fwd, tie, mode):
        one = np.ones(len(delta))
        plus = np.where(fwd | tie, 1, -1)
        hops = np.where(fwd | tie, delta, k - delta)
        if mode == "spray" and tie.any():
            w = np.where(tie, 0.5, 1.0)
            yield plus, hops, w
            yield -np.ones(len(delta), dtype=np.int64), np.where(tie, delta, 0), 0.5 * one
        else:
            yield plus, hops, one
