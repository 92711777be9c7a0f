"""The sweep file: a base scenario, the axes to vary, and how to sample them (grid, random,
Latin hypercube). Points are numbered 0..n-1 deterministically from the file, so a rerun of the
same sweep names every point the same way."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError, model_validator

from podwright.errors import InputError, from_validation_error
from podwright.specs.base import PositiveInt, Strict
from podwright.specs.catalog import read_yaml

SPEC_VERSION = 1
MAX_POINTS = 50_000_000  # a grid is decoded point by point
MAX_SAMPLED = 10_000_000  # random / lhs samples are drawn all at once (n x axes floats)
TARGETS = ("system", "chip", "part")  # design overrides; any other path is a scenario key


class RangeSpec(Strict):
    """A continuous (or whole-number) axis: sampled for random/LHS, `num` values for a grid."""

    low: float
    high: float
    num: PositiveInt | None = None  # grid only: evenly spaced values (geometric when log)
    log: bool = False
    int: bool = False

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("log scale needs low > 0")
        return self


class SweepFile(Strict):
    name: str = "sweep"
    base: str | dict[str, Any]
    mode: Literal["grid", "random", "lhs"] = "grid"
    n: PositiveInt | None = None
    seed: int = 0
    chunk_size: PositiveInt | None = None
    axes: dict[str, list[Any] | RangeSpec]


@dataclass(frozen=True)
class Axis:
    """One axis: one dotted path, or several (`"a,b"`) whose values move together."""

    paths: tuple[str, ...]
    values: list | None = None  # discrete: list of scalars (one path) or tuples (zipped paths)
    range: RangeSpec | None = None

    @property
    def key(self) -> str:
        return ",".join(self.paths)

    def grid_values(self) -> list:
        if self.values is not None:
            return self.values
        r = self.range
        if r.num is None:
            raise InputError(f"axes.{self.key}", "a range needs 'num' in grid mode")
        vals = np.geomspace(r.low, r.high, r.num) if r.log else np.linspace(r.low, r.high, r.num)
        out = [int(round(v)) for v in vals] if r.int else [float(v) for v in vals]
        return list(dict.fromkeys(out))  # whole-number rounding may repeat a value

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map uniform [0, 1) samples to this axis: value indices (discrete) or values."""
        if self.values is not None:
            return np.minimum((u * len(self.values)).astype(np.int64), len(self.values) - 1)
        r = self.range
        if r.int:
            lo, hi = math.ceil(r.low), math.floor(r.high)
            if r.log:
                v = np.exp(np.log(lo) + u * (np.log(hi + 1) - np.log(lo)))
                return np.minimum(np.floor(v), hi).astype(np.int64)
            return np.minimum(lo + np.floor(u * (hi - lo + 1)), hi).astype(np.int64)
        if r.log:
            return np.exp(np.log(r.low) + u * (np.log(r.high) - np.log(r.low)))
        return r.low + u * (r.high - r.low)

    def value(self, sample):
        """One point's value(s) for this axis as {path: value}."""
        if self.values is not None:
            v = self.values[int(sample)]
        else:
            v = int(sample) if self.range.int else float(sample)
        if len(self.paths) == 1:
            return {self.paths[0]: v}
        return dict(zip(self.paths, v, strict=True))


def column_name(path: str) -> str:
    """The results column of a dotted path: `system.scale_up.domain` -> `system_scale_up_domain`."""
    return re.sub(r"[^0-9A-Za-z_]", "_", path)


def _plain(v):
    """numpy scalars -> Python, for JSON and for the specs."""
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class Sweep:
    """A parsed sweep: base scenario, axes, sampling; `point(i)` gives point i's overrides."""

    name: str
    base: dict
    axes: list[Axis]
    mode: str
    n: int
    seed: int
    chunk_size: int | None
    source: str | None = None

    def __post_init__(self):
        self._samples: list[np.ndarray] | None = None
        self._grid: list[list] | None = None
        if self.mode == "grid":
            self._grid = [a.grid_values() for a in self.axes]
            self.n = math.prod(len(v) for v in self._grid) if self._grid else 1
        else:
            if not self.n:
                raise InputError("n", f"mode '{self.mode}' needs n (the number of points)")
            if self.n > MAX_SAMPLED:
                raise InputError("n", f"{self.n:,} is more than {MAX_SAMPLED:,} sampled points")
        if self.n > MAX_POINTS:
            raise InputError("axes", f"{self.n:,} points is more than {MAX_POINTS:,}")

    @property
    def workload(self) -> str:
        if "training" in self.base:
            return "training"
        if "inference" in self.base:
            return "inference"
        return "bom"

    def canonical(self) -> dict:
        """Everything that decides the points and their rows (not chunking or executor)."""
        axes = []
        for a in self.axes:
            spec = a.values if a.values is not None else a.range.model_dump()
            axes.append([a.key, spec])
        return {
            "version": SPEC_VERSION,
            "base": self.base,
            "mode": self.mode,
            "n": self.n if self.mode != "grid" else None,
            "seed": self.seed if self.mode != "grid" else None,
            "axes": axes,
        }

    @property
    def sweep_id(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _sampled(self) -> list[np.ndarray]:
        if self._samples is None:
            d = len(self.axes)
            if self.mode == "random":
                rng = np.random.default_rng(self.seed)
                u = rng.random((self.n, d))
            else:
                u = _latin_hypercube(d, self.n, self.seed) if d else np.zeros((self.n, 0))
            self._samples = [a.from_unit(u[:, j]) for j, a in enumerate(self.axes)]
        return self._samples

    def point(self, i: int) -> dict:
        """Point i's overrides {dotted path: value}, in axis order."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        out: dict = {}
        if self._grid is not None:
            rest = i
            picks = []
            for vals in reversed(self._grid):  # last axis varies fastest (itertools.product)
                rest, k = divmod(rest, len(vals))
                picks.append(k)
            for a, vals, k in zip(self.axes, self._grid, reversed(picks), strict=True):
                v = vals[k]
                out.update(
                    dict(zip(a.paths, v, strict=True)) if len(a.paths) > 1 else {a.paths[0]: v}
                )
            return out
        for a, s in zip(self.axes, self._sampled(), strict=True):
            out.update(a.value(s[i]))
        return {k: _plain(v) for k, v in out.items()}

    def points(self, indices) -> list[tuple[int, dict]]:
        return [(int(i), self.point(int(i))) for i in indices]

    def param_columns(self) -> list[tuple[str, str]]:
        """(dotted path, column name) of every axis path, in axis order."""
        return [(p, column_name(p)) for a in self.axes for p in a.paths]


def _latin_hypercube(d: int, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    params = inspect.signature(qmc.LatinHypercube).parameters
    kw = {"rng": seed} if "rng" in params else {"seed": seed}
    return qmc.LatinHypercube(d=d, **kw).random(n)


def _check_axis(key: str, spec) -> Axis:
    paths = tuple(p.strip() for p in key.split(","))
    where = f"axes.{key}"
    for p in paths:
        if not p or any(not part for part in p.split(".")):
            raise InputError(where, f"'{p}' is not a dotted path")
        head = p.split(".")[0]
        if head in TARGETS and len(p.split(".")) < (3 if head == "part" else 2):
            hint = "part.NAME.FIELD" if head == "part" else f"{head}.FIELD"
            raise InputError(where, f"'{p}' names no field (write {hint})")
    if isinstance(spec, RangeSpec):
        if len(paths) > 1:
            raise InputError(where, "zipped paths need a list of value lists, not a range")
        return Axis(paths, range=spec)
    if not spec:
        raise InputError(where, "lists no values")
    values = [copy.deepcopy(v) for v in spec]
    if len(paths) > 1:
        for v in values:
            if not isinstance(v, list) or len(v) != len(paths):
                raise InputError(where, f"each value must list {len(paths)} values (got {v!r})")
        values = [tuple(v) for v in values]
    seen = set()
    for v in values:
        k = json.dumps(v, sort_keys=True, default=str)
        if k in seen:
            raise InputError(where, f"lists {v!r} twice")
        seen.add(k)
    return Axis(paths, values=values)


def parse_sweep(data: Any, where: str | None = None, base_dir: Path | None = None) -> Sweep:
    if not isinstance(data, dict):
        raise InputError("sweep", "must be a mapping", where)
    try:
        f = SweepFile.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(e, where) from None
    base = f.base
    if isinstance(base, str):
        path = Path(base)
        if not path.is_absolute() and base_dir is not None and (base_dir / path).is_file():
            path = base_dir / path
        if not path.is_file():
            raise InputError("base", f"no such scenario file '{base}'")
        base = read_yaml(path, "base")
        if not isinstance(base, dict):
            raise InputError("base", f"{path} must hold a mapping")
    base = copy.deepcopy(base)
    for key in ("system", "chips"):
        if key not in base:
            raise InputError(f"base.{key}", "missing required field")
    axes = [_check_axis(k, v) for k, v in f.axes.items()]
    paths = [p for a in axes for p in a.paths]
    dup = {p for p in paths if paths.count(p) > 1}
    if dup:
        raise InputError("axes", f"'{sorted(dup)[0]}' appears on two axes")
    cols = [column_name(p) for p in paths]
    clash = {c for c in cols if cols.count(c) > 1}
    if clash:
        raise InputError("axes", f"two paths map to the same column '{sorted(clash)[0]}'")
    if f.mode == "grid" and f.n is not None:
        raise InputError("n", "grid mode takes every combination; 'n' is for random/lhs")
    return Sweep(
        name=f.name,
        base=base,
        axes=axes,
        mode=f.mode,
        n=f.n or 0,
        seed=f.seed,
        chunk_size=f.chunk_size,
        source=where,
    )


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise InputError("sweep", f"no such file '{path}'")
    return parse_sweep(read_yaml(path, "sweep"), str(path), path.parent)
