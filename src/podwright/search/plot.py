"""Scatter plots of sweep results: matplotlib for images (PNG/SVG/PDF), plotly for HTML.

Both libraries are optional (`pip install 'podwright[plot]'`) and imported only here.
"""

from __future__ import annotations

from pathlib import Path

from podwright.errors import InputError
from podwright.search.results import connect

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def _columns(con) -> list[str]:
    return [r[0] for r in con.execute("DESCRIBE results").fetchall()]


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def plot_results(
    results: str | Path,
    x: str,
    y: str,
    out: str | Path,
    color: str | None = None,
    where: str | None = None,
    title: str | None = None,
) -> dict:
    """Scatter `y` against `x` (coloured by `color`) over the points without errors."""
    import duckdb

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in IMAGE_SUFFIXES + (".html",):
        raise InputError("output", f"must end in .png, .svg, .pdf or .html (got '{out.name}')")
    con = connect(results)
    cols = _columns(con)
    for opt, col in (("x", x), ("y", y), ("color", color)):
        if col is not None and col not in cols:
            raise InputError(opt, f"no column '{col}' (columns: {', '.join(cols)})")
    picked = [x, y] + ([color] if color else [])
    sql = f"SELECT {', '.join(_quote(c) for c in picked)} FROM results WHERE error IS NULL"
    sql += f" AND {_quote(x)} IS NOT NULL AND {_quote(y)} IS NOT NULL"
    if where:
        sql += f" AND ({where})"
    try:
        rows = con.execute(sql + " ORDER BY id").fetchall()
    except duckdb.Error as e:
        raise InputError("where", str(e).strip().splitlines()[0]) from None
    if not rows:
        raise InputError("results", "no points without errors to plot")
    xs = [r[0] for r in rows]
    ys = [r[1] for r in rows]
    cs = [r[2] for r in rows] if color else None
    title = title or f"{y} vs {x}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        _plotly(xs, ys, cs, x, y, color, title, out)
    else:
        _matplotlib(xs, ys, cs, x, y, color, title, out)
    return {"points": len(rows), "out": str(out)}


def _numeric(values) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _matplotlib(xs, ys, cs, x, y, color, title, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("output", "PNG needs matplotlib: pip install 'podwright[plot]'") from None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if cs is None:
        ax.scatter(xs, ys, s=12, alpha=0.8)
    elif _numeric(cs):
        sc = ax.scatter(xs, ys, c=cs, s=12, alpha=0.8, cmap="viridis")
        fig.colorbar(sc, ax=ax, label=color)
    else:
        for group in sorted({str(c) for c in cs}):
            sel = [i for i, c in enumerate(cs) if str(c) == group]
            ax.scatter([xs[i] for i in sel], [ys[i] for i in sel], s=12, alpha=0.8, label=group)
        ax.legend(title=color, fontsize="small")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _plotly(xs, ys, cs, x, y, color, title, out: Path) -> None:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise InputError("output", "HTML needs plotly: pip install 'podwright[plot]'") from None
    fig = go.Figure()
    if cs is None:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=y))
    elif _numeric(cs):
        marker = {"color": cs, "colorscale": "Viridis", "showscale": True}
        marker["colorbar"] = {"title": {"text": color}}
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=marker, name=y))
    else:
        for group in sorted({str(c) for c in cs}):
            sel = [i for i, c in enumerate(cs) if str(c) == group]
            fig.add_trace(
                go.Scatter(
                    x=[xs[i] for i in sel], y=[ys[i] for i in sel], mode="markers", name=group
                )
            )
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, legend_title_text=color or "")
    fig.write_html(str(out), include_plotlyjs=True, full_html=True)
