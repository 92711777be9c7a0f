"""Pydantic models of catalog items and scenarios, and their loading with one-line errors."""

from podwright.specs.catalog import (
    catalog_names,
    load_calibration,
    load_chip,
    load_model_config,
    load_part,
    load_system,
)
from podwright.specs.hardware import Chip, Part
from podwright.specs.system import System

__all__ = [
    "Chip",
    "Part",
    "System",
    "catalog_names",
    "load_calibration",
    "load_chip",
    "load_model_config",
    "load_part",
    "load_system",
]
