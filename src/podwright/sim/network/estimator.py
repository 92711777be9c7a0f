"""The flow-level simulator as the estimator's network model (`predict --network sim`):
each distinct collective of a scenario is priced by simulation instead of the analytical
per-level formula (cached per shape)."""

from __future__ import annotations

import dataclasses

import numpy as np

from podwright.estimate.network import NetworkModel
from podwright.sim.network.simulate import collective_time
from podwright.topology import Fabric


@dataclasses.dataclass(frozen=True)
class SimNetworkModel(NetworkModel):
    fabric: Fabric | None = None

    def time(self, kind: str, nbytes, group, stride):
        t_ana, share = super().time(kind, nbytes, group, stride)
        nbytes, group, stride = np.broadcast_arrays(
            np.asarray(nbytes, dtype=float), np.asarray(group), np.asarray(stride)
        )
        out = np.zeros(nbytes.shape)
        for idx in np.ndindex(nbytes.shape):
            g, s, b = int(group[idx]), int(stride[idx]), float(nbytes[idx])
            out[idx] = collective_time(self.fabric, kind, b, g, s) if g > 1 and b > 0 else 0.0
        return np.where(group > 1, np.maximum(out, self.floor), 0.0), share


def sim_network(fabric: Fabric, side: int = 0) -> SimNetworkModel:
    base = NetworkModel.of(fabric, side)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.init}
    fields["_cache"] = {}
    return SimNetworkModel(**fields, fabric=fabric)
