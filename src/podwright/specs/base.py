"""Shared pydantic base: strict keys, and the rule that every number carries its source."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _holds_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, dict):
        return any(_holds_number(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_number(v) for v in value)
    return False


class Sourced(Strict):
    """A catalog item: every top-level key holding a number needs an entry in `sources`."""

    sources: dict[str, str] = Field(default_factory=dict)
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _every_number_sourced(cls, data, info):
        # Catalog files must cite every number; a user's own what-if file need not.
        if not isinstance(data, dict) or not (info.context or {}).get("require_sources"):
            return data
        sources = data.get("sources") or {}
        exempt = cls.unsourced_keys()
        for key, value in data.items():
            if key in ("sources", "notes") or key in exempt:
                continue
            if _holds_number(value) and key not in sources:
                raise ValueError(f"'{key}' holds a number but 'sources' has no '{key}' entry")
        return data

    @classmethod
    def unsourced_keys(cls) -> frozenset[str]:
        """Keys that hold identifiers rather than measured facts (no citation needed)."""
        return frozenset({"name"})
