"""The dashboards of the shared demo: every number traceable, figures equal to the lake, pages as a person sees them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from dashboards import console
from dashboards.build import build_dashboards, default_dir, query
from dashboards.charts import CHARTS, PAGES
from radlake import catalog, warehouse
from radlake.config import Settings, load_settings
from tests.quality.cdp import Browser
from tests.quality.hostile import PAYLOADS, assert_no_payload_ran, raw_payloads

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
PAGE_IDS = [p.id for p in PAGES] + ["console"]
IDENTIFIER_COLUMNS = ("accession_number", "study_instance_uid", "series_instance_uid", "subject_uid", "mrn")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


MAY_BE_ZERO = {"chart-open_names_by_institution"}
NOT_IN_THE_DEMO = {"chart-ai_studies_by_day", "chart-ai_turnaround_by_day"}
"""The demo routes nothing to an AI, so it has no AI results (tests/gold/test_ai_results.py checks the mart)."""


@pytest.fixture(scope="module")
def built(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """The demo's settings and a fresh dashboard build of its warehouse."""
    workdir, _ = demo_run
    settings = load_settings(workdir / "radlake.yaml")
    out = tmp_path_factory.mktemp("dashboard")
    result = build_dashboards(settings, out)
    assert result.missing == {}, result.missing
    return settings, out


def _lake_table(settings: Settings, layer: str, name: str):
    dt = DeltaTable(catalog.table_uri(settings, catalog.table(layer, name)))
    return pq.read_table(dt.file_uris())


def test_the_demo_run_built_the_dashboards(demo_run) -> None:
    workdir, _ = demo_run
    folder = default_dir(load_settings(workdir / "radlake.yaml"))
    assert (folder / "index.html").is_file() and (folder / "console.html").is_file()


def test_every_chart_sql_returns_its_rows_again(built) -> None:
    settings, out = built
    con = warehouse.connect(settings)
    try:
        files = sorted((out / "data").glob("*.json"))
        assert len(files) >= len(CHARTS)
        checked = 0
        for path in files:
            record = json.loads(path.read_text(encoding="utf-8"))
            assert set(record) >= {"sql", "rows"}, path
            if record["sql"] is None:
                continue
            assert query(con, record["sql"]) == record["rows"], path.name
            checked += 1
        assert checked >= len(CHARTS)
    finally:
        con.close()


def _rows(out: Path, chart_id: str) -> list[dict]:
    return json.loads((out / "data" / f"{chart_id}.json").read_text(encoding="utf-8"))["rows"]


def test_three_headline_figures_equal_the_lake(built) -> None:
    settings, out = built
    exams = _lake_table(settings, "silver", "exams")
    performed = exams.filter(pc.is_valid(exams["exam_started_at"]))
    # Exams on the exam-operations page = performed exams in silver.
    assert sum(r["exams"] for r in _rows(out, "exams_by_day")) == performed.num_rows
    # Exams still without a standard code (unmapped + review) = performed exams whose name status is open.
    status = pc.fill_null(performed["exam_name_status"], "unmapped").to_pylist()
    open_names = sum(1 for s in status if s not in ("matched",))
    coverage = _rows(out, "coverage_by_day")
    assert sum(r["unmapped"] + r["review"] for r in coverage) == open_names
    # Instances on the data-assets page = distinct SOP instances landed in bronze that belong to a study.
    instances = _lake_table(settings, "bronze", "dicom_instances")
    with_study = instances.filter(pc.is_valid(instances["study_instance_uid"]))
    assert sum(r["instances"] for r in _rows(out, "assets_by_month")) == len(
        set(with_study["sop_instance_uid"].to_pylist())
    )


def test_data_files_hold_no_identifiers(built) -> None:
    settings, out = built
    exams = _lake_table(settings, "silver", "exams")
    accessions = {a for a in exams["accession_number"].to_pylist() if a}
    mrns = {m for m in exams["mrn"].to_pylist() if m}
    text = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.suffix in (".json", ".html"))
    for column in IDENTIFIER_COLUMNS:
        assert f'"{column}"' not in text
    leaked = [v for v in accessions | mrns if v in text]
    assert leaked == []


def test_pages_render_offline_and_filters_change_the_numbers(built) -> None:
    _, out = built
    with Browser() as browser:
        for page_id in PAGE_IDS:
            log = browser.open(out / f"{page_id}.html", ready="document.body.getAttribute('data-rendered') >= 1")
            assert log.errors == [], (page_id, log.errors)
            assert [u for u in log.requests if not u.startswith(("file:", "data:"))] == [], page_id
            charts = browser.evaluate(
                "Array.from(document.querySelectorAll('.chart')).map(e => [e.id, e.dataset.kind,"
                " e.querySelectorAll('canvas').length, Number(e.dataset.total), Number(e.dataset.rows),"
                " e.querySelectorAll('td').length])"
            )
            assert charts, page_id
            for chart_id, kind, canvases, total, rows, cells in charts:
                if chart_id in NOT_IN_THE_DEMO:
                    assert rows == 0, chart_id  # drawn empty, without an error (log.errors above)
                    continue
                # A count of open problems may rightly be zero on the demo (every exam name mapped).
                assert rows > 0 and (total > 0 or chart_id in MAY_BE_ZERO), (page_id, chart_id)
                assert canvases >= 1 if kind != "table" else cells > 0, (page_id, chart_id)
            # Pixels were drawn: the first chart's canvas is not blank.
            inked = browser.evaluate(
                "(() => { const c = document.querySelector('.chart canvas'); const d = c.getContext('2d')"
                ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
                " for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()"
            )
            assert inked > 1000, page_id
            browser.screenshot(ARTIFACTS / f"dashboard_{page_id}.png")
            if page_id == "console":
                continue
            # What the page shows: its headline figures and each chart's rows and total.
            shown = (
                "Array.from(document.querySelectorAll('.kpi-value')).map(e => e.dataset.value).concat("
                "Array.from(document.querySelectorAll('.chart')).map(e => e.dataset.rows + '/' + e.dataset.total))"
                ".join('|')"
            )
            before = browser.evaluate(shown)
            institutions = browser.evaluate("Array.from(document.getElementById('f-inst').options).map(o => o.value)")
            assert len(institutions) >= 3, page_id  # "all" and at least two institutions
            browser.evaluate(
                f"(() => {{ const s = document.getElementById('f-inst'); s.value = {json.dumps(institutions[1])};"
                " s.dispatchEvent(new Event('change')); return true; })()"
            )
            after = browser.evaluate(shown)
            assert after != before, page_id
            # A date range that ends on the first day shows fewer rows than the whole span.
            shrunk = browser.evaluate(
                "(() => { const f = document.getElementById('f-from'), t = document.getElementById('f-to');"
                " const rows = () => Array.from(document.querySelectorAll('.chart')).map(e => Number(e.dataset.rows));"
                " document.getElementById('f-reset').click(); const all = rows(); t.value = f.value;"
                " t.dispatchEvent(new Event('change')); const few = rows();"
                " return all.some((n, i) => few[i] < n); })()"
            )
            # Where a chart follows the date filter by day and its rows span several days, a one-day range must
            # show fewer rows (a monthly or undated chart, or data of a single day, rightly keeps its rows).
            spans = [
                len({r[c.date] for r in json.loads((out / "data" / f"{c.id}.json").read_text())["rows"]}) > 1
                for c in CHARTS
                if c.page == page_id and c.date and c.date_grain == "day"
            ]
            if any(spans):
                assert shrunk, page_id


def test_english_labels_with_ui_language_en(built, tmp_path: Path) -> None:
    settings, _ = built
    english = settings.model_copy(update={"ui": settings.ui.model_copy(update={"language": "en"})})
    out = tmp_path / "en"
    build_dashboards(english, out)
    page = (out / "exams.html").read_text(encoding="utf-8")
    assert "Exam operations" in page and 'lang="en"' in page and "检查业务" not in page
    assert "检查业务" in (built[1] / "exams.html").read_text(encoding="utf-8")


def test_hostile_names_render_as_text(built, tmp_path: Path) -> None:
    """Every text column of every mart filled with script payloads: the pages show them, and none runs."""
    settings, _ = built
    hostile_db = tmp_path / "hostile.duckdb"
    shutil.copyfile(settings.warehouse_path, hostile_db)
    con = duckdb.connect(str(hostile_db))
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        for table in tables:
            cols = con.execute(
                "select column_name from information_schema.columns where table_name = ? and data_type = 'VARCHAR'",
                [table],
            ).fetchall()
            for i, (col,) in enumerate(cols):
                if col in ("timeliness", "mapping_status"):  # statuses the charts filter on keep their meaning
                    continue
                # One payload per distinct value, so groups stay apart and every payload reaches a page.
                con.execute(
                    f'update "{table}" set "{col}" = ? || "{col}" where "{col}" is not null',
                    [PAYLOADS[i % len(PAYLOADS)]],
                )
    finally:
        con.close()
    hostile = settings.model_copy(update={"warehouse": str(hostile_db)})
    out = tmp_path / "dash"
    build_dashboards(hostile, out)
    for page in out.glob("*.html"):
        assert raw_payloads(page.read_text(encoding="utf-8")) == [], page.name
    with Browser() as browser:
        for page_id in PAGE_IDS:
            ready = "document.body.getAttribute('data-rendered') >= 1"
            assert_no_payload_ran(browser, out / f"{page_id}.html", ready=ready)
            assert browser.log.errors == [], (page_id, browser.log.errors)
        # The payloads are there, as text: in the filter's options and the console's tables.
        options = browser.evaluate("Array.from(document.getElementById('f-inst').options).map(o => o.text).join(' ')")
        assert "<script>" in options or "onerror" in options or "<svg" in options
        browser.screenshot(ARTIFACTS / "dashboard_hostile_console.png")


def test_console_says_when_it_was_built_on_lagging_data(built, tmp_path: Path) -> None:
    from ingestion.cdc.status import lagging_sources, record_sync, sync_record_path
    from orchestration.gold.dbt import lagging_metadata

    settings, _ = built
    source = sorted(settings.sources)[0]
    record = sync_record_path(settings, source)
    kept = record.read_bytes() if record.exists() else None  # the shared demo's own record, put back after
    record_sync(settings, source, error="<script>window.__pwned=1</script> slot gone")
    try:
        lagging = lagging_sources(settings)
        assert list(lagging) == [source]
        out = tmp_path / "lagging"
        build_dashboards(settings, out, lagging=lagging)
        page = (out / "console.html").read_text(encoding="utf-8")
        assert "id='lagging'" in page and source in page
        assert "<script>window.__pwned" not in page and "&lt;script&gt;window.__pwned" in page
        assert lagging_metadata(lagging)["built_on_lagging_data"] is True
        assert lagging_metadata({})["built_on_lagging_data"] is False
        build_dashboards(settings, out, lagging={})
        assert "id='lagging'" not in (out / "console.html").read_text(encoding="utf-8")
    finally:
        if kept is None:
            record.unlink()
        else:
            record.write_bytes(kept)


# What a page shows, as numbers: headline figures, each chart's rows and total, and on the console each tile and
# the rows of its tables.
SHOWN = """(() => {
  const out = {};
  document.querySelectorAll('.kpi-value').forEach(e => { if (e.id) out[e.id] = e.dataset.value; });
  document.querySelectorAll('.chart').forEach(e => { out[e.id] = e.dataset.rows + '/' + e.dataset.total; });
  document.querySelectorAll('.tile').forEach(e => { out[e.id] = e.dataset.problems; });
  document.querySelectorAll('main table[id]').forEach(e => { out[e.id] = e.tBodies[0].rows.length; });
  return out;
})()"""

# Figures computed from the warehouse, for one institution and an optional day range (another way than the page):
# the SQL, with {days} where the day's condition goes on the named date column.
EXPECTED = {
    ("exams", "kpi-exams_total"): (
        "select sum(exam_count) from exam_volume_daily where institution = ? {days}", "exam_date"),
    ("console", "tile-timeliness_breaches"): (
        "select sum(late) + sum(missing) from report_timeliness_daily where institution = ? {days}", "exam_date"),
    ("console", "tile-review_exam_names"): (
        "select coalesce(sum(exam_count), 0) from exam_volume_by_item_daily"
        " where standard_code is null and mapping_status = 'review' and institution = ? {days}", "exam_date"),
    # Dated since issue 33: patient records on the day of their latest exam, header fields by StudyDate.
    ("console", "tile-patient_candidates"): (
        "select sum(records_with_several_empi_ids) from link_quality_summary where institution = ? {days}",
        "exam_date"),
    ("console", "tile-exams_without_images"): (  # the stewards' list of them, exam by exam
        "select count(*) from stewards.link_quality_exams_without_images where institution = ? {days}", "exam_date"),
    ("console", "tile-missing_header_fields"): (
        "select sum(instances) - sum(instances_present) from dicom_header_completeness where institution = ? {days}",
        "study_date"),
}  # fmt: skip


def _data_span(out: Path, page_id: str) -> tuple[str, str]:
    """First and last day of a page's data files: daily rows when it has some, else whole months."""
    import calendar

    if page_id == "console":
        sources = [(f"console_{p.id}", p.date, p.date_grain) for p in console.PROBLEMS if p.date]
    else:
        sources = [(c.id, c.date, c.date_grain) for c in CHARTS if c.page == page_id and c.date]
    days: dict[str, list[str]] = {"day": [], "week": [], "month": []}
    for name, column, grain in sources:
        rows = json.loads((out / "data" / f"{name}.json").read_text())["rows"]
        days[grain] += [str(r[column])[:10] for r in rows if r[column]]
    assert not days["week"] or days["day"], "a page of weekly rows only: not in the demo"
    if days["day"]:
        return min(days["day"]), max(days["day"])
    last = max(days["month"])
    end = calendar.monthrange(int(last[:4]), int(last[5:7]))[1]
    return min(days["month"]), f"{last[:8]}{end:02d}"


def _set(browser: Browser, element: str, value: str) -> None:
    browser.evaluate(
        f"(() => {{ const e = document.getElementById({json.dumps(element)}); e.value = {json.dumps(value)};"
        " e.dispatchEvent(new Event('change')); return true; })()"
    )


def _expected(settings: Settings, page_id: str, inst: str, day: str | None) -> dict[str, float]:
    from radlake.publish import current_file

    con = warehouse.connect(settings)
    con.execute(f"attach '{current_file(settings, True)}' as stewards (read_only)")
    try:
        out = {}
        for (page, element), (sql, column) in EXPECTED.items():
            if page == page_id:
                days = "" if day is None else f"and {column} = cast(? as date)"
                args = [inst] + ([day] if days else [])
                out[element] = float(con.execute(sql.format(days=days), args).fetchone()[0] or 0)
        return out
    finally:
        con.close()


def test_every_filter_filters_every_figure_and_lives_in_the_address(built) -> None:
    """Institution and day filters on each page: every figure that follows them moves, and equals the warehouse.

    The filter state is in the page's address: opening that address again shows the same numbers.
    """
    settings, out = built
    ready = "document.body.getAttribute('data-rendered') >= 1"
    report = []
    # Every console tile follows the date range: none says it does not (issue 33).
    page = (out / "console.html").read_text(encoding="utf-8")
    tiles = page.split("<div class='tiles'>", 1)[1].split("<div class='grid'>", 1)[0]
    assert tiles.count("class='tile'") == len(console.PROBLEMS)
    assert "not filtered by date" not in tiles and "不按日期筛选" not in tiles
    with Browser() as browser:
        for page_id in PAGE_IDS:
            browser.open(out / f"{page_id}.html", ready=ready)
            institutions = browser.evaluate("Array.from(document.getElementById('f-inst').options).map(o => o.value)")
            assert not {"unlinked", "(unlinked)"} <= set(institutions), (page_id, institutions)
            # The date pickers span the data's days (the simulation ended yesterday), not the day of the build.
            first = browser.evaluate("document.getElementById('f-from').value")
            last = browser.evaluate("document.getElementById('f-to').value")
            assert (first, last) == _data_span(out, page_id), page_id
            before = browser.evaluate(SHOWN)
            inst = next(i for i in institutions[1:] if not i.startswith("("))
            _set(browser, "f-inst", inst)
            after = browser.evaluate(SHOWN)
            fragment = browser.evaluate("location.hash").lstrip("#")
            assert fragment == f"inst={inst}", (page_id, fragment)
            day = last if page_id != "assets" else first  # a day of data (the assets page has whole months)
            _set(browser, "f-from", day)
            _set(browser, "f-to", day)
            one_day = browser.evaluate(SHOWN)
            day_fragment = browser.evaluate("location.hash").lstrip("#")
            changed = [k for k in before if before[k] != after[k]]
            narrowed = [k for k in after if after[k] != one_day[k]]
            report.append((page_id, inst, day, before, after, one_day))
            # Every chart and tile that follows the institution filter changed (unless its value is zero anyway).
            assert changed, page_id
            for element, value in _expected(settings, page_id, inst, None).items():
                assert float(after[element]) == value, (page_id, element, after[element], value)
            whole, one = _expected(settings, page_id, inst, None), _expected(settings, page_id, inst, day)
            for element, value in one.items():
                assert float(one_day[element]) == value, (page_id, element, one_day[element], value)
            # Where the warehouse says the day differs from all days, the page shows it; every daily chart
            # and tile with rows on other days too moves (checked for the charts by the test above).
            assert narrowed or (whole == one and first == last) or page_id == "console", page_id
            if whole != one:
                assert narrowed, page_id
            # The address holds the view: opened afresh, it shows the same numbers.
            browser.open(out / f"{page_id}.html", ready=ready, fragment=day_fragment)
            assert browser.evaluate(SHOWN) == one_day, page_id
            if page_id == "console":
                browser.screenshot(ARTIFACTS / "dashboard_console_filtered.png")
    print("\npage · institution · figure: all → institution → institution on one day (the day)")
    for page_id, inst, first, before, after, one_day in report:
        for k in before:
            if before[k] != after[k] or after[k] != one_day[k]:
                print(f"  {page_id} · {inst} · {k}: {before[k]} → {after[k]} → {one_day[k]} ({first})")


def test_the_console_routing_card_shows_the_queue_escaped_with_dead_letters_red() -> None:
    from dashboards.labels import labels as labels_of

    card = console.routing_card(
        labels_of("en"),
        {
            "<b>ai": {"waiting": 3, "oldest_waiting_seconds": 12.4, "sent": 40, "dead": 2},
            "archive": {"waiting": 0, "oldest_waiting_seconds": 0.0, "sent": 43, "dead": 0},
        },
    )
    assert "<b>ai" not in card and "&lt;b&gt;ai" in card
    assert "<td>3</td><td>12</td><td>40</td><td><span class='rag red'>2</span></td>" in card
    assert "<td>archive</td><td>0</td><td>0</td><td>43</td><td>0</td>" in card
    assert console.routing_card(labels_of("en"), {}) == ""  # no routing: no card
