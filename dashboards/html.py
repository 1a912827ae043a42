"""HTML of the dashboard pages: one layout, every text escaped, data embedded only as escaped JSON."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from dashboards.charts import Chart, Page

# Scripts and styles only from files of the folder: an injected inline script or event handler would not run.
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'none'"

MENU = ("exams", "timeliness", "devices", "standardisation", "image_quality", "assets", "console")


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element or a ``.js`` file: no ``<``, ``>``, ``&`` or line separators.

    The escapes are JSON's own (``\\u003c``), so ``JSON.parse`` and JavaScript read back the same text.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, safe in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, safe)
    return text


def layout(
    title: str, body: str, *, lang: str, labels: dict[str, str], current: str, generated: str, head: str = ""
) -> str:
    """A whole page: menu, title, body (already safe HTML), footer."""
    links = []
    for page_id in MENU:
        cls = " class='current'" if page_id == current else ""
        links.append(f"<a href='{page_id}.html'{cls}>{escape(labels['page_' + page_id])}</a>")
    html_lang = "zh-CN" if lang == "zh" else "en"
    return f"""<!DOCTYPE html>
<html lang="{html_lang}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · {escape(labels["site"])}</title>
<link rel="stylesheet" href="static/dashboard.css">
{head}</head>
<body>
<header><a class="brand" href="index.html">{escape(labels["site"])}</a><nav>{"".join(links)}</nav></header>
<main>
<h1>{escape(title)}</h1>
{body}
</main>
<footer>{escape(labels["generated"])} {escape(generated)}</footer>
</body></html>
"""


def filters(labels: dict[str, str]) -> str:
    """The institution and date-range filters (filled by dashboard.js from the page's rows)."""
    return (
        "<form class='filters'>"
        f"<label>{escape(labels['institution'])} <select id='f-inst'>"
        f"<option value=''>{escape(labels['all_institutions'])}</option></select></label>"
        f"<label>{escape(labels['from'])} <input type='date' id='f-from'></label>"
        f"<label>{escape(labels['to'])} <input type='date' id='f-to'></label>"
        f"<button type='button' id='f-reset'>{escape(labels['reset'])}</button></form>"
    )


def chart_card(chart: Chart, labels: dict[str, str]) -> str:
    """A chart's frame: title, drawing area, link to its data and SQL, which filters it ignores."""
    notes = []
    if chart.date is None:
        notes.append(labels["date_ignored"])
    if chart.inst is None:
        notes.append(labels["inst_ignored"])
    note = f"<span class='muted'> · {escape(', '.join(notes))}</span>" if notes else ""
    wide = " wide" if chart.kind in ("heatmap", "table") else ""
    return (
        f"<section class='card{wide}'><h2>{escape(labels[chart.id])}</h2>"
        f"<div class='chart {escape(chart.kind)}' id='chart-{escape(chart.id)}' data-kind='{escape(chart.kind)}'></div>"
        f"<p class='empty' id='empty-{escape(chart.id)}' hidden>{escape(labels['no_data'])}</p>"
        f"<p class='src'><a href='data/{escape(chart.id)}.json'>{escape(labels['source'])}</a>{note}</p></section>"
    )


def chart_config(chart: Chart) -> dict[str, Any]:
    """What dashboard.js needs to know of a chart (no SQL: that is in its data file)."""
    return {
        "id": chart.id,
        "kind": chart.kind,
        "x": chart.x,
        "y": chart.y,
        "series": chart.series,
        "measures": list(chart.measures),
        "ratio": list(chart.ratio) if chart.ratio else None,
        "inst": chart.inst,
        "date": chart.date,
        "date_grain": chart.date_grain,
        "top": chart.top,
        "value": chart.value,
        "weight": chart.weight,
    }


def chart_page(
    page: Page,
    charts: list[Chart],
    labels: dict[str, str],
    *,
    lang: str,
    generated: str,
    extra_body: str = "",
    extra_data: tuple[str, ...] = (),
    extra_config: dict[str, Any] | None = None,
) -> str:
    """A dashboard page: filters, headline figures, charts; scripts from the folder only.

    ``extra_data`` names more data files the page loads (``data/<id>.js``) and ``extra_config`` more keys of
    the page's configuration (the console's problems), for what ``extra_body`` frames.
    """
    kpis = "".join(
        f"<div class='kpi'><div class='kpi-label'>{escape(labels['kpi_' + k.id])}</div>"
        f"<div class='kpi-value' id='kpi-{escape(k.id)}'>—</div></div>"
        for k in page.kpis
    )
    config = {
        "page": page.id,
        "charts": [chart_config(c) for c in charts],
        "kpis": [
            {
                "id": k.id,
                "chart": k.chart,
                "measure": k.measure,
                "ratio": list(k.ratio) if k.ratio else None,
                "percentile": k.percentile,
                "week_change": k.week_change,
            }
            for k in page.kpis
        ],
        "labels": labels,
        **(extra_config or {}),
    }
    ids = [c.id for c in charts] + list(extra_data)
    data_scripts = "".join(f"<script src='data/{escape(i)}.js'></script>" for i in ids)
    body = (
        f"{filters(labels)}<div class='kpis'>{kpis}</div>{extra_body}"
        f"<div class='grid'>{''.join(chart_card(c, labels) for c in charts)}</div>"
        f"<script type='application/json' id='radlake-page'>{script_json(config)}</script>"
        f"<script src='static/echarts/echarts.min.js'></script>{data_scripts}"
        "<script src='static/dashboard.js'></script>"
    )
    return layout(labels["page_" + page.id], body, lang=lang, labels=labels, current=page.id, generated=generated)
