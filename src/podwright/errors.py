"""The one error type users see: bad input, reported as one line naming the field and the reason."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (unknown name, missing field, impossible layout). The CLI prints it and exits 2."""

    def __init__(self, field: str, reason: str, where: str | None = None):
        self.field = field
        self.reason = reason
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{field}: {reason}")


def from_validation_error(err, where: str | None = None, prefix: str = "") -> InputError:
    """Turn a pydantic ValidationError into an InputError naming the first offending field."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if _is_field(p))
    field = ".".join(p for p in (prefix, loc) if p) or "(file)"
    msg = first.get("msg", "invalid").removeprefix("Value error, ")
    value = first.get("input")
    if first.get("type") == "missing":
        msg = "missing required field"
    elif isinstance(value, int | float | str) and len(str(value)) < 40:
        msg = f"{msg} (got {value!r})"
    return InputError(field, msg, where)


# pydantic names a union's members in the error location ("constrained-int", "literal['auto']",
# "function-after[...]", "int"); a scenario's fields are plain identifiers, list positions ints
_TYPE_TAGS = {"int", "float", "str", "bool", "dict", "list", "none", "__root__"}


def _is_field(part) -> bool:
    if isinstance(part, int):
        return True
    return part.isidentifier() and part not in _TYPE_TAGS
