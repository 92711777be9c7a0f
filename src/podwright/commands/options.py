"""Typer parameter types shared by the command modules: `Opt(int | None, "help")` reads as
the option's type in a command's signature."""

from __future__ import annotations

from typing import Annotated

import typer


def Opt(kind, help: str, *names: str):  # noqa: N802 - used as a type in signatures
    """An option of type `kind` with its help text (and flag names, where not the default)."""
    return Annotated[kind, typer.Option(*names, help=help)]


def Arg(kind, help: str):  # noqa: N802 - used as a type in signatures
    """A positional argument of type `kind` with its help text."""
    return Annotated[kind, typer.Argument(help=help)]
