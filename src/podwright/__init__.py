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


def _scenario(scenario):
    from podwright.specs.scenario import Scenario, load_scenario, parse_scenario

    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return parse_scenario(scenario)
    return load_scenario(scenario)


def predict(scenario, explain: bool = False) -> dict:
    """The prediction object of SCENARIO.md section 2 (with `economics`) for a scenario given
    as a path to its YAML, a mapping, or a parsed Scenario."""
    from podwright.economics.cost import add_economics
    from podwright.estimate.predict import fabric_for
    from podwright.estimate.predict import predict as run

    s = _scenario(scenario)
    return add_economics(s, run(s, explain=explain), fabric_for(s))


def search(scenario, top: int = 5, objective: str = "tokens_per_s_per_chip") -> dict:
    """Best layouts of a scenario whose layout keys may be `auto` (see `podwright search`)."""
    from podwright.search.layouts import search as run

    return run(_scenario(scenario), top=top, objective=objective)


def serve_sim(scenario, rate: float | None = None, concurrency: int | None = None, **kw) -> dict:
    """Request-level serving simulation of the scenario's instance (see `podwright serve-sim`):
    Poisson arrivals at `rate` requests/s, a closed loop of `concurrency` clients, or neither:
    the highest rate whose p99 TTFT and TPOT meet the scenario's SLO. Keyword arguments:
    requests, seed, lengths ("fixed" | "varied"), token_budget."""
    from podwright.sim.serving import max_rate, serving_costs, simulate, with_economics

    s = _scenario(scenario)
    costs = serving_costs(s)
    if rate is None and concurrency is None:
        return with_economics(s, max_rate(costs, s.inference, **kw))
    return with_economics(
        s, simulate(costs, s.inference, rate or 0.0, concurrency=concurrency, **kw)
    )


__all__ = ["InputError", "SystemHandle", "predict", "search", "serve_sim", "system", "__version__"]
