"""Flow-level network simulator: flows on the fabric graph, max-min fair rates, collectives."""

from podwright.sim.network.analytical import check_analytical
from podwright.sim.network.network import Network, Phase
from podwright.sim.network.simulate import collective_time, parse_size, simulate
from podwright.sim.network.validate import validate_collectives

__all__ = [
    "Network",
    "Phase",
    "check_analytical",
    "collective_time",
    "parse_size",
    "simulate",
    "validate_collectives",
]
