"""A point's overrides applied to the design: `system.*` on the system file, `chip.*` on its chip,
`part.NAME.*` on a part, anything else on the scenario.

The specs are frozen pydantic models, so an override is applied to a dump of the model and
validated again. Where a scenario must name a changed design (predict takes names or paths), the
changed system, chip and parts are written once each, as what-if JSON files named by their
content, into a temporary folder of the worker process ("a path to your own file anywhere a
catalog name is accepted", docs/catalog.md).
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from podwright.errors import InputError, from_validation_error
from podwright.specs import Chip, Part, System, load_chip, load_part, load_system
from podwright.specs.catalog import load_model_config

# Keys of a system file whose value names a part (see specs.catalog.check_references).
PART_REF_KEYS = frozenset(
    {"cpu", "nic", "rack", "cooling", "switch", "cable", "optic", "ocs"}
    | {"nic_optic", "switch_optic", "leaf_cable"}
)


@dataclass
class Overrides:
    scenario: dict = field(default_factory=dict)  # dotted path -> value
    system: dict = field(default_factory=dict)  # path inside the system file -> value
    chip: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)  # part name -> {path: value}

    @classmethod
    def split(cls, params: dict) -> Overrides:
        o = cls()
        for path, value in params.items():
            head, _, rest = path.partition(".")
            if head == "system" and rest:
                o.system[rest] = value
            elif head == "chip" and rest:
                o.chip[rest] = value
            elif head == "part" and rest:
                name, _, sub = rest.partition(".")
                o.parts.setdefault(name, {})[sub] = value
            else:
                o.scenario[path] = value
        return o

    @property
    def design_changed(self) -> bool:
        return bool(self.system or self.chip or self.parts)


def set_path(data, path: str, value, *, create: bool, field_name: str):
    """Set `value` at dotted `path` in nested dicts/lists; `create` makes missing mappings."""
    keys = path.split(".")
    node = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise InputError(field_name, f"'{key}' is not an index of a {len(node)}-item list")
            key = int(key)
        elif isinstance(node, dict):
            if key not in node:
                if not create:
                    raise InputError(field_name, f"unknown field '{key}'")
                if not last:
                    node[key] = {}
        else:
            raise InputError(field_name, f"'{keys[i - 1]}' holds {node!r}, not a mapping")
        if last:
            node[key] = copy.deepcopy(value)
        else:
            if node[key] is None and create:
                node[key] = {}
            node = node[key]
    return data


def _validate(model, data: dict, prefix: str):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(e, prefix=prefix) from None


def _replace_refs(node, refs: dict[str, str]):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("sources", "notes"):
                continue
            if k in PART_REF_KEYS and isinstance(v, str) and v in refs:
                node[k] = refs[v]
            else:
                _replace_refs(v, refs)
    elif isinstance(node, list):
        for v in node:
            _replace_refs(v, refs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _SpecFolder:
    """A per-process folder of what-if spec files under one parent in the temp directory,
    removed when the process exits; folders of processes that died (killed sweeps) are removed
    by the next process that makes one."""

    def __init__(self):
        self._dir: Path | None = None
        self._pid = None

    def path(self) -> Path:
        if self._dir is None or self._pid != os.getpid():
            parent = (
                Path(tempfile.gettempdir())
                / f"podwright-sweep-specs-{getattr(os, 'getuid', lambda: 0)()}"
            )
            parent.mkdir(exist_ok=True)
            for old in parent.glob("pid-*"):
                pid = old.name.removeprefix("pid-")
                if pid.isdigit() and not _alive(int(pid)):
                    shutil.rmtree(old, ignore_errors=True)
            self._pid = os.getpid()
            self._dir = parent / f"pid-{self._pid}"
            shutil.rmtree(self._dir, ignore_errors=True)  # a reused pid's leftovers
            self._dir.mkdir()
            d = self._dir
            atexit.register(shutil.rmtree, d, ignore_errors=True)
            try:  # worker processes exit through multiprocessing's finalizers, not atexit
                from multiprocessing import util

                util.Finalize(
                    None, shutil.rmtree, args=(d,), kwargs={"ignore_errors": True}, exitpriority=0
                )
            except Exception:  # pragma: no cover
                pass
        return self._dir

    def write(self, kind: str, data: dict) -> str:
        text = json.dumps(data, sort_keys=True, default=str)
        name = f"{kind}-{hashlib.sha1(text.encode()).hexdigest()[:20]}.json"
        path = self.path() / name
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        return str(path)


_FOLDER = _SpecFolder()


@dataclass
class Design:
    """One point's hardware: the system and chip objects, and a name/path predict can load
    (the what-if files are written only when a name is asked for)."""

    system: System
    chip: Chip
    _name: str | None = None
    _data: dict | None = None
    _chip_data: dict | None = None

    def name(self) -> str:
        if self._name is None:
            data = dict(self._data)
            if self._chip_data is not None:
                data["chip"] = _FOLDER.write("chip", self._chip_data)
            self._name = _FOLDER.write("system", data)
        return self._name


class Designs:
    """Resolve (system name, overrides) to a Design, caching recent ones in this process."""

    def __init__(self, capacity: int = 4096):
        self._cache: dict[str, Design] = {}
        self._parts: dict[str, str] = {}
        self._capacity = capacity

    def get(self, system_name: str, o: Overrides) -> Design:
        key = json.dumps([system_name, o.system, o.chip, o.parts], sort_keys=True, default=str)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(system_name, o)
            if len(self._cache) >= self._capacity:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def _part(self, part_name: str, fields: dict) -> str:
        """The path of a what-if copy of a part (written once per process)."""
        key = json.dumps([part_name, fields], sort_keys=True, default=str)
        path = self._parts.get(key)
        if path is None:
            data = load_part(part_name).model_dump()
            for sub, value in fields.items():
                set_path(data, sub, value, create=False, field_name=f"part.{part_name}.{sub}")
            _validate(Part, data, f"part.{part_name}")
            path = self._parts[key] = _FOLDER.write("part", data)
        return path

    def _resolve(self, system_name: str, o: Overrides) -> Design:
        base = load_system(system_name)
        if not o.design_changed:
            return Design(base, load_chip(base.chip), system_name)
        refs = {name: self._part(name, fields) for name, fields in o.parts.items()}
        sys_data = base.model_dump()
        for path, value in o.system.items():
            set_path(sys_data, path, value, create=False, field_name=f"system.{path}")
            if path.rpartition(".")[2] in PART_REF_KEYS and isinstance(value, str):
                try:
                    load_part(value)
                except InputError as e:
                    raise InputError(f"system.{path}", e.reason) from None
        if refs:
            _replace_refs(sys_data, refs)
        try:
            chip = load_chip(sys_data["chip"])
        except InputError as e:
            raise InputError("system.chip", e.reason) from None
        chip_data = None
        if o.chip:
            chip_data = chip.model_dump()
            for path, value in o.chip.items():
                set_path(chip_data, path, value, create=False, field_name=f"chip.{path}")
            chip = _validate(Chip, chip_data, "chip")
        system = _validate(System, sys_data, "system")
        return Design(system, chip, None, sys_data, chip_data)


def scenario_data(base: dict, overrides: dict) -> dict:
    """The base scenario mapping with the scenario-level overrides set."""
    data = copy.deepcopy(base)
    for path, value in overrides.items():
        if path.startswith("model.") and isinstance(data.get("model"), str):
            data["model"] = dict(load_model_config(data["model"]))
        set_path(data, path, value, create=True, field_name=path)
    return data
