"""Max-min fair rates by progressive filling, and an event-driven run of one phase of flows.

The flow x link incidence is A = D + C B: D holds per-flow entries on links (first/last hops,
hashed paths), C maps flows to shared sprayed segments and B gives each segment's weight on
each link. Only products with A and A^T are needed, so C B is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


class Incidence:
    def __init__(self, D: sparse.csr_matrix, C=None, B=None):
        self.D, self.DT = D.tocsr(), D.T.tocsr()
        self.C = self.CT = self.B = self.BT = None
        if C is not None and C.nnz:
            self.C, self.CT = C.tocsr(), C.T.tocsr()
            self.B, self.BT = B.tocsr(), B.T.tocsr()
        self.flows, self.links = D.shape

    def loads(self, x: np.ndarray) -> np.ndarray:
        """Per link: sum over flows of weight x rate (A^T x)."""
        out = self.DT @ x
        if self.C is not None:
            out = out + self.BT @ (self.CT @ x)
        return out

    def per_flow(self, y: np.ndarray) -> np.ndarray:
        """Per flow: sum over its links of weight x y (A y)."""
        out = self.D @ y
        if self.C is not None:
            out = out + self.C @ (self.B @ y)
        return out

    @property
    def nnz(self) -> int:
        return self.D.nnz + (self.C.nnz + self.B.nnz if self.C is not None else 0)


def max_min(inc: Incidence, cap: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Max-min fair rates (progressive filling): raise every unfrozen flow's rate together until
    a link saturates, freeze the flows crossing saturated links, repeat. Vectorised: one
    iteration costs two sparse products, and there are as many iterations as distinct
    bottleneck levels."""
    rate = np.zeros(inc.flows)
    free = active.copy()
    resid = cap.astype(float).copy()
    tol = 1e-9 * np.maximum(cap, 1e-12)
    for _ in range(inc.flows + 1):
        if not free.any():
            break
        load = inc.loads(free.astype(float))
        used = load > 1e-12
        if not used.any():  # flows that cross no link (should not happen)
            rate[free] = np.inf
            break
        inc_r = float(np.min(resid[used] / load[used]))
        rate[free] += inc_r
        resid = np.maximum(resid - inc_r * load, 0.0)
        sat = used & (resid <= tol)
        hit = inc.per_flow(sat.astype(float)) > 0
        free &= ~hit
    return rate


@dataclass
class PhaseRun:
    time_s: float  # when the last finite flow completes
    link_bytes: np.ndarray  # bytes carried per link
    events: int
    finish_s: np.ndarray  # per flow (inf for background flows)


def run(inc: Incidence, cap_bps: np.ndarray, nbytes: np.ndarray, rel_tol: float = 1e-6) -> PhaseRun:
    """Run flows of `nbytes` (inf = background flow that never ends) to completion, recomputing
    max-min fair rates at each completion event. Completions within rel_tol of the earliest are
    taken together."""
    remaining = nbytes.astype(float).copy()
    active = remaining > 0
    finite = np.isfinite(remaining)
    finish = np.where(active, np.inf, 0.0)
    link_bytes = np.zeros(inc.links)
    t, events = 0.0, 0
    while (active & finite).any():
        rate = max_min(inc, cap_bps, active)
        live = active & finite
        with np.errstate(divide="ignore"):
            left = np.where(live, remaining / np.where(rate > 0, rate, np.nan), np.inf)
        left = np.nan_to_num(left, nan=np.inf)
        dt = float(np.min(left))
        if not np.isfinite(dt):
            raise RuntimeError("flows left with zero rate")
        done = live & (left <= dt * (1 + rel_tol))
        step_rate = np.where(active, rate, 0.0)
        link_bytes += inc.loads(step_rate) * dt
        remaining = np.where(active, remaining - step_rate * dt, remaining)
        t += dt
        finish[done] = t
        active &= ~done
        events += 1
    return PhaseRun(t, link_bytes, events, finish)
