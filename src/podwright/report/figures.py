"""Figures: matplotlib for PNG, plotly for HTML (both optional extras, imported lazily)."""

from __future__ import annotations

from pathlib import Path

from podwright.errors import InputError


def pareto_figure(front: list[dict], path: str) -> None:
    if not front:
        raise InputError("figure", "no Pareto front to draw (training searches have none)")
    x = [p["latency_ms"] for p in front]
    y = [p["tokens_per_s_per_chip"] for p in front]
    out = Path(path)
    if out.suffix == ".html":
        try:
            import plotly.graph_objects as go
        except ImportError:
            raise InputError(
                "figure", "HTML figures need plotly: pip install 'podwright[plot]'"
            ) from None
        fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers"))
        fig.update_layout(xaxis_title="latency (ms)", yaxis_title="tokens/s per chip")
        fig.write_html(str(out), include_plotlyjs="cdn")
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(
            "figure", "PNG figures need matplotlib: pip install 'podwright[plot]'"
        ) from None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, y, marker="o")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("tokens/s per chip")
    ax.set_title("Pareto front")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
