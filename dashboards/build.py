"""Build the dashboards: run every chart's SQL on the analysts' warehouse, write data files and pages offline."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from dashboards import console
from dashboards.charts import CHARTS, PAGES, Chart, Page
from dashboards.html import MENU, chart_page, layout, script_json
from dashboards.labels import labels as labels_of
from radlake import warehouse
from radlake.config import Settings
from radlake.errors import LakeError

STATIC_DIR = Path(__file__).resolve().parent / "static"

TREND_CHART = Chart(
    "console_trend", "console", "line", "", x="built_at", series="problem", measures=("problems",), date=None,
)  # fmt: skip
"""The console's trend: problem counts per build, from the console history (no SQL of its own). Its time axis is
the builds', not the data's, so the page's date range (the data's days) does not apply to it."""


@dataclass
class BuildResult:
    """What a build wrote: the folder, its pages, and charts whose tables the warehouse lacks."""

    out: Path
    pages: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def default_dir(settings: Settings) -> Path:
    """``<warehouse folder>/dashboard``."""
    return Path(settings.warehouse_path).parent / "dashboard"


def plain(value: Any) -> Any:
    """A DuckDB value as JSON: dates as ISO text, decimals as floats."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def query(con: Any, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts of JSON values (the form ``data/<chart>.json`` holds)."""
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def chart_sql(chart_or_sql: Chart | str, settings: Settings) -> str:
    """The SQL as run: the time zone filled in (a validated IANA name: letters, digits, ``/``, ``_``, ``-``)."""
    sql = chart_or_sql.sql if isinstance(chart_or_sql, Chart) else chart_or_sql
    return sql.replace("{tz}", settings.timezone)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_data(out: Path, name: str, payload: dict[str, Any]) -> None:
    """``data/<name>.json`` (the record: SQL and rows) and ``data/<name>.js`` (the same, for pages on file://).

    Browsers refuse ``fetch`` of a file next to a page opened from disk, so pages load the ``.js`` twin.
    """
    _write(out / "data" / f"{name}.json", json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    _write(
        out / "data" / f"{name}.js",
        f"window.RADLAKE_DATA = window.RADLAKE_DATA || {{}};\nwindow.RADLAKE_DATA[{script_json(name)}] = "
        f"{script_json(payload)};\n",
    )


def _run(con: Any, sql: str) -> tuple[list[dict[str, Any]], str | None]:
    import duckdb

    try:
        return query(con, sql), None
    except (duckdb.CatalogException, duckdb.BinderException) as exc:  # a mart or column this file lacks
        return [], str(exc).splitlines()[0]


def _copy_static(out: Path) -> None:
    target = out / "static"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("dashboard.js", "dashboard.css"):
        shutil.copyfile(STATIC_DIR / name, target / name)
    shutil.copytree(STATIC_DIR / "echarts", target / "echarts", dirs_exist_ok=True)


def _top_raw_names(settings: Settings) -> tuple[str, list[dict[str, Any]] | None]:
    """The stewards' top open raw exam names, from the analysts' mart ``exam_name_open_names``."""
    import duckdb

    sql = """select institution, raw_name, status, exams
from exam_name_open_names
order by exams desc, institution, raw_name
limit 20"""
    try:
        con = warehouse.connect(settings)
    except LakeError:
        return sql, None
    try:
        return sql, query(con, sql)
    except duckdb.CatalogException:  # a warehouse built before the mart existed
        return sql, None
    finally:
        con.close()


def data_span(out: Path) -> tuple[str | None, str | None, list[str]]:
    """First and last day of the charts' daily data, and the institutions in all of it."""
    first: str | None = None
    last: str | None = None
    institutions: set[str] = set()
    for chart in CHARTS:
        path = out / "data" / f"{chart.id}.json"
        if not path.is_file():
            continue
        for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
            if chart.inst and row.get(chart.inst) is not None:
                institutions.add(str(row[chart.inst]))
            day = str(row.get(chart.date) or "")[:10] if chart.date and chart.date_grain == "day" else ""
            if day:
                first = day if first is None or day < first else first
                last = day if last is None or day > last else last
    return first, last, sorted(institutions)


def index_body(out: Path, words: dict[str, str], *, quality_href: str | None, lagging: dict[str, str]) -> str:
    """The front page: what the data covers, then one card per page naming its headline figures and charts."""
    first, last, institutions = data_span(out)
    span = f"{first} – {last}" if first else "—"
    facts = (
        f"<div class='kpis'><div class='kpi'><div class='kpi-label'>{escape(words['data_span'])}</div>"
        f"<div class='kpi-value' id='index-span'>{escape(span)}</div></div>"
        f"<div class='kpi'><div class='kpi-label'>{escape(words['institution'])}</div>"
        f"<div class='kpi-value' id='index-institutions'>{len(institutions)}</div>"
        f"<div class='muted'>{escape(', '.join(institutions))}</div></div></div>"
    )
    warning = ""
    if lagging:
        items = "".join(f"<li><b>{escape(src)}</b>: {escape(why)}</li>" for src, why in sorted(lagging.items()))
        warning = f"<section class='card lagging'><h2>{escape(words['lagging'])}</h2><ul>{items}</ul></section>"
    cards = []
    for page_id in MENU:
        page = next((p for p in PAGES if p.id == page_id), None)
        kpis = [words["kpi_" + k.id] for k in page.kpis] if page else []
        charts = [words[c] for c in page.charts] if page else [words["console_intro"]]
        lines = "".join(f"<li>{escape(text)}</li>" for text in charts)
        figures = f"<p class='muted'>{escape(' · '.join(kpis))}</p>" if kpis else ""
        cards.append(
            f"<section class='card'><h2><a href='{escape(page_id)}.html'>{escape(words['page_' + page_id])}</a></h2>"
            f"{figures}<ul>{lines}</ul></section>"
        )
    report = f"<p><a href='{escape(quality_href)}'>{escape(words['quality_report'])}</a></p>" if quality_href else ""
    return f"{warning}{facts}<div class='grid' id='index-pages'>{''.join(cards)}</div>{report}"


def build_dashboards(
    settings: Settings,
    out: Path | None = None,
    *,
    lagging: dict[str, str] | None = None,
    routing: dict[str, dict[str, float]] | None = None,
) -> BuildResult:
    """Write the dashboards for ``settings`` into ``out`` (default :func:`default_dir`).

    Parameters
    ----------
    settings
        The analysts' warehouse (``settings.warehouse_path``), language and console thresholds (``ui``).
    out
        Target folder; its ``data/`` is replaced, other files are overwritten in place.
    lagging
        Sources whose last sync did not catch up, and why (the caller asks the CDC layer): the stewards'
        console then says the figures were built on lagging data.
    routing
        The routing queue per destination (the caller reads audit/routing_queue): a card on the console.

    Returns
    -------
    BuildResult
        Pages written, rows per chart, and charts left empty because their mart is missing.

    Raises
    ------
    LakeError
        The warehouse does not exist or cannot be opened.
    """
    out = (out or default_dir(settings)).resolve()
    result = BuildResult(out=out)
    words = labels_of(settings.ui.language)
    generated = console.now_utc()
    if (out / "data").is_dir():
        shutil.rmtree(out / "data")
    con = warehouse.connect(settings)
    try:
        for chart in CHARTS:
            sql = chart_sql(chart, settings)
            rows, missing = _run(con, sql)
            payload: dict[str, Any] = {"sql": sql, "rows": rows}
            if missing:
                payload["missing"] = missing
                result.missing[chart.id] = missing
            write_data(out, chart.id, payload)
            result.rows[chart.id] = len(rows)
        by_inst: dict[str, list[dict[str, Any]]] = {}
        for problem in console.PROBLEMS:
            rows, missing = _run(con, problem.by_institution)
            write_data(
                out,
                f"console_{problem.id}",
                {"sql": problem.by_institution, "rows": rows, **({"missing": missing} if missing else {})},
            )
            by_inst[problem.id] = rows
            if missing:
                result.missing[f"console_{problem.id}"] = missing
            if problem.by_device:
                rows, missing = _run(con, problem.by_device)
                write_data(out, f"console_{problem.id}_devices", {"sql": problem.by_device, "rows": rows})
    finally:
        con.close()
    _copy_static(out)

    for page in PAGES:
        charts = [c for c in CHARTS if c.page == page.id]
        result.pages.append(out / f"{page.id}.html")
        _write(out / f"{page.id}.html", chart_page(page, charts, words, lang=settings.ui.language, generated=generated))

    # The stewards' console: today's problems (drawn by the page from the data files, through its filters) and
    # their trend over builds, recorded per problem and institution (all days together).
    totals: dict[tuple[str, str], list[Any]] = {}
    for p, rows in by_inst.items():
        for r in rows:
            entry = totals.setdefault((p, str(r["institution"])), [0, None])
            entry[0] += plain(r["problems"]) or 0
            if r["base"] is not None:
                entry[1] = (entry[1] or 0) + plain(r["base"])
    current = [
        {"problem": p, "institution": inst, "problems": n, "base": base} for (p, inst), (n, base) in totals.items()
    ]
    history = console.record_history(settings, current, generated)
    write_data(
        out,
        TREND_CHART.id,
        {"sql": None, "source": console.history_path(settings).name, "rows": console.trend_rows(history)},
    )
    names_sql, names = _top_raw_names(settings)
    if names is not None:
        write_data(out, "console_top_raw_names", {"sql": names_sql, "rows": names})
    quality_index = settings.quality_dir / "index.html"
    quality_href = Path(os.path.relpath(quality_index, out)).as_posix() if quality_index.is_file() else None
    static = console.render_console(
        settings,
        words,
        with_top_names=names is not None,
        quality_href=quality_href,
        lagging=lagging or {},
        routing=routing,
    )
    console_page = Page("console", (TREND_CHART.id,), ())
    _write(
        out / "console.html",
        chart_page(
            console_page,
            [TREND_CHART],
            words,
            lang=settings.ui.language,
            generated=generated,
            extra_body=static,
            extra_data=tuple(console.data_ids(names is not None)),
            extra_config={"console": console.console_config(settings)},
        ),
    )
    result.pages.append(out / "console.html")

    _write(
        out / "index.html",
        layout(
            words["site"],
            index_body(out, words, quality_href=quality_href, lagging=lagging or {}),
            lang=settings.ui.language,
            labels=words,
            current="",
            generated=generated,
        ),
    )
    result.pages.insert(0, out / "index.html")
    return result
