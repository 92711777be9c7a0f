"""Rich tables for the CLI, and number formatting shared by them."""

from __future__ import annotations

from rich.table import Table


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1):
        return f"{int(v):,}"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def table(title: str, columns: list[str], rows: list[list], right_from: int = 1) -> Table:
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        # the first column names the row: kept whole, the others wrap
        t.add_column(c, justify="right" if i >= right_from else "left", no_wrap=i == 0)
    for r in rows:
        t.add_row(*[fmt(x) for x in r])
    return t
