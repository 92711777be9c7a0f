"""A system file states a design: chip, node, racks, scale-up and scale-out fabrics.

Counts of switch chips, optical modules and cables are never stated here; the topology
builders derive them from this design.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from podwright.specs.base import NonNegFloat, NonNegInt, PositiveFloat, PositiveInt, Sourced, Strict

Media = Literal["pcb", "copper", "optical"]


class Node(Strict):
    chips: PositiveInt
    cpu: str | None = None
    cpus: NonNegInt = 0
    nic: str | None = None
    nics: NonNegInt = 0
    power_w: PositiveFloat | None = None
    price_usd: PositiveFloat | None = None
    # what else the node price pays for, where it is a whole system's price split over its
    # nodes (an NVL72 rack, a CloudMatrix384): the scale-up fabric's parts, the racks
    price_covers: tuple[Literal["scale_up", "rack", "cooling"], ...] = ()


class ClosTier(Strict):
    """One switch tier of a multi-tier Clos scale-up fabric (tier 1 first)."""

    switch: str
    placement: Literal["node", "fabric"] = "fabric"
    link_lanes: PositiveInt | None = None  # lanes per link from the tier below; None: as below
    oversubscription: PositiveFloat = 1.0
    media: Media | None = None  # links from the tier below; default pcb on a node, else optical
    optic: str | None = None
    cable: str | None = None

    @property
    def link_media(self) -> str:
        return self.media or ("pcb" if self.placement == "node" else "optical")


class ScaleUp(Strict):
    kind: Literal["switched", "clos", "full_mesh", "torus", "none"]
    domain: PositiveInt
    planes: PositiveInt | None = None  # None: the fewest switch chips that stay single-tier
    switch: str | None = None
    media: Media | list[Media] = "pcb"
    cable: str | None = None
    optic: str | None = None
    tiers: list[ClosTier] | None = None
    dims: list[PositiveInt] | None = None
    ocs: str | None = None
    pod_chips: PositiveInt | None = None
    network_racks: NonNegInt = 0  # racks that hold only scale-up switches, per domain

    @model_validator(mode="after")
    def _kind_has_its_keys(self):
        need = {
            "switched": ("switch",),
            "clos": ("tiers", "planes"),
            "full_mesh": ("dims",),
            "torus": ("dims",),
            "none": (),
        }[self.kind]
        for key in need:
            if getattr(self, key) in (None, []):
                raise ValueError(f"kind '{self.kind}' needs '{key}'")
        if self.kind == "full_mesh":
            prod = 1
            for d in self.dims:
                prod *= d
            if prod != self.domain:
                raise ValueError(f"product of dims {self.dims} must equal domain {self.domain}")
        if self.kind == "torus":
            prod = 1
            for d in self.dims:
                prod *= d
            if self.domain % prod:
                raise ValueError(
                    f"domain {self.domain} is not a whole number of {self.dims} blocks"
                )
            if self.pod_chips and self.pod_chips < self.domain:
                raise ValueError(f"pod_chips {self.pod_chips} is smaller than domain {self.domain}")
        return self

    def media_of(self, dim: int = 0) -> str:
        return self.media[dim] if isinstance(self.media, list) else self.media


class ScaleOut(Strict):
    kind: Literal["fat_tree", "none"] = "fat_tree"
    switch: str | None = None
    max_tiers: PositiveInt = Field(default=3, le=4)
    oversubscription: PositiveFloat = 1.0
    rails: PositiveInt = 1
    planes: PositiveInt = 1
    nic_optic: str | None = None
    switch_optic: str | None = None
    leaf_media: Literal["optical", "copper"] = "optical"
    leaf_cable: str | None = None

    @model_validator(mode="after")
    def _fat_tree_needs_switch(self):
        if self.kind == "fat_tree" and not self.switch:
            raise ValueError("kind 'fat_tree' needs 'switch'")
        return self


class System(Sourced):
    name: str
    description: str = ""
    chip: str
    node: Node
    nodes_per_rack: PositiveInt | None = None  # None: as many as the rack's power allows
    rack: str | None = None
    cooling: str | None = None
    scale_up: ScaleUp
    scale_out: ScaleOut = ScaleOut(kind="none")
    scale_out_gbps_per_chip: PositiveFloat | None = None  # override of NIC/chip port speed
    power_overhead_w_per_node: NonNegFloat | None = None

    @model_validator(mode="after")
    def _domain_holds_whole_nodes(self):
        if self.scale_up.domain % self.node.chips and self.node.chips % self.scale_up.domain:
            raise ValueError(
                f"scale_up.domain {self.scale_up.domain} and node.chips {self.node.chips} "
                "must divide one another"
            )
        return self
