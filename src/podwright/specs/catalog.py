"""Finding and loading catalog items by name or path, with one-line errors."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from podwright.errors import InputError, from_validation_error
from podwright.specs.hardware import Chip, Part
from podwright.specs.system import System

try:  # the C loader is several times faster; fall back where libyaml is missing
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

CATALOG = Path(str(resources.files("podwright") / "catalog"))
PART_CATEGORIES = (
    "switch_chip",
    "optical_module",
    "copper_cable",
    "nic",
    "cpu",
    "rack",
    "cooling",
    "ocs",
)


def read_yaml(path: Path, field: str):
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(field, f"cannot read {path}: {e.strerror}") from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise InputError(field, f"{path} is not valid YAML/JSON{at}") from None


def _folder(kind: str) -> Path:
    return CATALOG / kind


def catalog_names(kind: str) -> list[str]:
    """Names of the catalog items of one kind ('chips', 'systems', 'models', 'parts/nic'...)."""
    if kind == "parts":
        return sorted(n for c in PART_CATEGORIES for n in catalog_names(f"parts/{c}"))
    folder = _folder(kind)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".json"))


def _resolve(kind: str, field: str, name_or_path: str | Path, suffix: str = ".yaml") -> Path:
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") or "/" in text:
        if not path.is_file():
            raise InputError(field, f"no such file '{text}'")
        return path
    hit = _folder(kind) / f"{text}{suffix}"
    if hit.is_file():
        return hit
    known = ", ".join(catalog_names(kind)) or "none"
    raise InputError(field, f"unknown {kind.rstrip('s').split('/')[-1]} '{text}' (known: {known})")


def _validate(model, data, path: Path, field: str, in_catalog: bool):
    if not isinstance(data, dict):
        raise InputError(field, f"{path} must hold a mapping")
    try:
        return model.model_validate(data, context={"require_sources": in_catalog})
    except ValidationError as e:
        raise from_validation_error(e, where=str(path)) from None


def _in_catalog(path: Path) -> bool:
    try:
        path.resolve().relative_to(CATALOG.resolve())
        return True
    except ValueError:
        return False


@lru_cache(maxsize=256)
def load_chip(name_or_path: str) -> Chip:
    path = _resolve("chips", "chip", name_or_path)
    return _validate(Chip, read_yaml(path, "chip"), path, "chip", _in_catalog(path))


@lru_cache(maxsize=512)
def load_part(name_or_path: str, category: str | None = None) -> Part:
    """A part by name (searched in every category, or in `category`) or path."""
    text = str(name_or_path)
    field = category or "part"
    if Path(text).suffix in (".yaml", ".yml", ".json") or "/" in text:
        path = _resolve("parts", field, text)
    else:
        cats = (category,) if category else PART_CATEGORIES
        path = next(
            (
                _folder(f"parts/{c}") / f"{text}.yaml"
                for c in cats
                if (_folder(f"parts/{c}") / f"{text}.yaml").is_file()
            ),
            None,
        )
        if path is None:
            known = ", ".join(n for c in cats for n in catalog_names(f"parts/{c}")) or "none"
            raise InputError(field, f"unknown part '{text}' (known: {known})")
    part = _validate(Part, read_yaml(path, field), path, field, _in_catalog(path))
    if category and part.category != category:
        raise InputError(field, f"part '{text}' is a {part.category}, not a {category}")
    return part


@lru_cache(maxsize=128)
def load_system(name_or_path: str) -> System:
    path = _resolve("systems", "system", name_or_path)
    system = _validate(System, read_yaml(path, "system"), path, "system", _in_catalog(path))
    check_references(system, str(path))
    return system


def check_references(system: System, where: str) -> None:
    """Every chip and part a system names must exist, in the right category."""
    try:
        load_chip(system.chip)
        refs = [
            ("node.cpu", system.node.cpu, "cpu"),
            ("node.nic", system.node.nic, "nic"),
            ("rack", system.rack, "rack"),
            ("cooling", system.cooling, "cooling"),
            ("scale_up.switch", system.scale_up.switch, "switch_chip"),
            ("scale_up.cable", system.scale_up.cable, "copper_cable"),
            ("scale_up.optic", system.scale_up.optic, "optical_module"),
            ("scale_up.ocs", system.scale_up.ocs, "ocs"),
            ("scale_out.switch", system.scale_out.switch, "switch_chip"),
            ("scale_out.nic_optic", system.scale_out.nic_optic, "optical_module"),
            ("scale_out.switch_optic", system.scale_out.switch_optic, "optical_module"),
            ("scale_out.leaf_cable", system.scale_out.leaf_cable, "copper_cable"),
        ]
        for i, tier in enumerate(system.scale_up.tiers or []):
            refs += [
                (f"scale_up.tiers.{i}.switch", tier.switch, "switch_chip"),
                (f"scale_up.tiers.{i}.optic", tier.optic, "optical_module"),
                (f"scale_up.tiers.{i}.cable", tier.cable, "copper_cable"),
            ]
        for field, name, category in refs:
            if name:
                try:
                    load_part(name, category)
                except InputError as e:
                    raise InputError(field, e.reason) from None
    except InputError as e:
        raise InputError(e.field, e.reason, where) from None


@lru_cache(maxsize=128)
def load_calibration(chip: str) -> dict:
    """The chip's calibration factors {name: {value, uncertainty, source}} ({} if none)."""
    path = _folder("calibration") / f"{chip}.yaml"
    if not path.is_file():
        return {}
    data = read_yaml(path, "calibration") or {}
    return dict(data.get("factors") or {})


@lru_cache(maxsize=128)
def load_model_config(name_or_path: str) -> dict:
    path = _resolve("models", "model", name_or_path, suffix=".json")
    data = read_yaml(path, "model")
    if not isinstance(data, dict):
        raise InputError("model", f"{path} must hold a JSON object")
    return data


@cache
def element_bytes() -> dict[str, float]:
    """Bytes per stored element of each precision, block scales included
    (catalog/number_formats.yaml)."""
    data = read_yaml(CATALOG / "number_formats.yaml", "catalog/number_formats.yaml")["formats"]
    return {
        name: f["bits"] / 8 + (f["scale_bits"] / 8 / f["block"] if f["block"] else 0.0)
        for name, f in data.items()
    }
