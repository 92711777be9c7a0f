"""A self-contained HTML report of one scenario: the prediction with its band and interval,
where the time goes, memory, the system's bill of materials, cost and reliability. Figures are
plotly (inlined, so the file opens offline); the page is a jinja2 template. Both come with
`podwright[plot]`."""

from __future__ import annotations

from pathlib import Path

from podwright.errors import InputError
from podwright.report.tables import fmt

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>podwright: {{ name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
.small { color: #666; font-size: 0.9em; }
</style></head><body>
<h1>{{ name }}</h1>
<p class="small">{{ subtitle }}</p>
{% if not fits %}<p><b>Does not fit:</b> {{ reason }}</p>{% endif %}
{% for title, rows in tables %}
<h2>{{ title }}</h2>
<table><tr><th></th><th>value</th><th>band</th><th>80% interval</th></tr>
{% for k, v, b, i in rows %}<tr><td>{{ k }}</td><td>{{ v }}</td><td>{{ b }}</td><td>{{ i }}</td></tr>{% endfor %}
</table>
{% endfor %}
{% for fig in figures %}{{ fig }}{% endfor %}
<h2>Bill of materials ({{ chips }} chips)</h2>
<table><tr>{% for c in bom_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in bom_rows %}<tr>{% for x in r %}<td>{{ x }}</td>{% endfor %}</tr>{% endfor %}
</table>
<p class="small">Layout: {{ layout }}</p>
<p class="small">Made by podwright {{ version }}. Units: seconds, GB (10^9 bytes), GB/s one direction.</p>
</body></html>
"""


def _rows(body: dict, band: dict, prefix: str, interval: dict | None = None) -> list:
    rows = []
    for k, v in body.items():
        if isinstance(v, dict):
            continue
        b, i = band.get(f"{prefix}.{k}"), (interval or {}).get(f"{prefix}.{k}")
        rows.append([k, fmt(v), f"{fmt(b[0])} .. {fmt(b[1])}" if b else "",
                     f"{fmt(i[0])} .. {fmt(i[1])}" if i else ""])  # fmt: skip
    return rows


def render(prediction: dict, bom: dict, path: str) -> None:
    try:
        import jinja2
        import plotly.graph_objects as go
        from markupsafe import Markup
    except ImportError:
        raise InputError(
            "output", "HTML reports need plotly and jinja2: pip install 'podwright[plot]'"
        ) from None
    from podwright import __version__

    p = prediction
    band = p.get("band", {})
    tables, figures = [], []
    phase = "training" if "training" in p else "inference"
    body = p[phase]
    tables.append((phase, _rows(body, band, phase, p.get("interval"))))
    for key in ("economics", "reliability"):
        if key in p:
            tables.append((key, _rows(p[key], band, key)))
    split = body.get("breakdown_s") or p.get("explain", {}).get("step_s_per_stage")
    if split:
        fig = go.Figure(go.Bar(x=list(split), y=list(split.values())))
        fig.update_layout(title="where the time goes (s)", height=350)
        figures.append(fig.to_html(full_html=False, include_plotlyjs="inline"))
    mem = body.get("memory_gb")
    if mem:
        fig = go.Figure(go.Pie(labels=list(mem), values=list(mem.values())))
        fig.update_layout(title="memory per chip (GB)", height=350)
        figures.append(fig.to_html(full_html=False, include_plotlyjs=False))
    cols = ["part", "category", "tier", "count", "unit_power_w", "unit_cost_usd"]
    html = (
        jinja2.Environment(autoescape=True)
        .from_string(TEMPLATE)
        .render(
            name=p["scenario"],
            subtitle=f"{bom['system']}, {bom['chips']:,} chips",
            fits=p.get("fits", True),
            reason=p.get("reason", ""),
            tables=tables,
            figures=[Markup(f) for f in figures],  # plotly's own HTML
            chips=f"{bom['chips']:,}",
            bom_cols=cols,
            bom_rows=[[fmt(i[c]) for c in cols] for i in bom["items"]],
            layout=p.get("layout"),
            version=__version__,
        )
    )
    Path(path).write_text(html)
