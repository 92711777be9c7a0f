"""Topology builders: a system design + a chip count -> a Fabric (levels, BoM, graph)."""

from podwright.topology.build import Fabric, build
from podwright.topology.fabric import BomItem, Graph, Level

__all__ = ["BomItem", "Fabric", "Graph", "Level", "build"]
