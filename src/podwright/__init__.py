"""podwright: design and evaluate AI supernodes from one description of the hardware.

>>> import podwright
>>> cm = podwright.system("cloudmatrix384")
>>> cm.bom()["totals"]["optical_modules"]
6912
"""

from __future__ import annotations

from podwright.errors import InputError

__version__ = "0.1.0"


class SystemHandle:
    """A catalog (or file) system: `.bom()`, `.fabric`, `.summary()`, `.dataframe()`."""

    def __init__(self, name_or_path: str, chips: int | None = None):
        from podwright.topology import build

        self.fabric = build(name_or_path, chips)
        self.spec = self.fabric.system

    def bom(self) -> dict:
        return self.fabric.bom()

    def summary(self) -> dict:
        from podwright.topology.summary import summary

        return summary(self.fabric)

    def demand(self) -> dict:
        from podwright.economics.demand import demand

        return demand(self.fabric)

    def dataframe(self):
        """The BoM items as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame(self.bom()["items"])

    def scale(self, chips: int) -> SystemHandle:
        return SystemHandle(self.spec.name, chips)


def system(name_or_path: str, chips: int | None = None) -> SystemHandle:
    """Build a system of `chips` accelerators (default: one scale-up domain)."""
    return SystemHandle(name_or_path, chips)


__all__ = ["InputError", "SystemHandle", "system", "__version__"]
