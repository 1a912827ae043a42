"""Every chart of the dashboards: the SQL over the analysts' warehouse that feeds it, and how the page draws it.

A chart's SQL returns rows at the finest grain the page filters on (a day or month, an institution); the page
sums the filtered rows in the browser, so every number shown is a sum or ratio of rows in ``data/<chart>.json``.
Only aggregates and non-identifying columns are selected: no accession number, UID or record key leaves here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from radlake import semantic

Kind = Literal["bar", "stack", "line", "hbar", "heatmap", "percentiles", "weekly", "table"]


@dataclass(frozen=True)
class Chart:
    """One chart: its data (``sql``) and its drawing.

    Attributes
    ----------
    id
        File name of its data (``data/<id>.json``) and the element id on the page.
    page
        The page it is drawn on.
    kind
        ``bar``/``stack``/``line`` (x, optional series), ``hbar`` (top ``top`` of x), ``heatmap`` (x × y),
        ``percentiles`` (p50/p90 of ``value`` weighted by ``weight``, per x), ``weekly`` (totals per week and the
        change on the week before), ``table`` (rows grouped by ``x`` and ``y``).
    sql
        The query; ``{tz}`` is replaced by the hospitals' time zone.
    x, y, series
        Columns: category axis, second axis (heatmap, table), series split.
    measures
        Columns summed (one series each when there is no ``series`` column).
    ratio
        (numerator, denominator): the value drawn is their ratio of sums (a share, shown in %).
    inst, date
        Columns the page's institution and date-range filters apply to (None: the chart ignores that filter).
    date_grain
        ``day``, ``week`` or ``month`` (a week or month row is kept when it overlaps the range).
    """

    id: str
    page: str
    kind: Kind
    sql: str
    x: str
    measures: tuple[str, ...] = ()
    y: str | None = None
    series: str | None = None
    ratio: tuple[str, str] | None = None
    inst: str | None = "institution"
    date: str | None = None
    date_grain: Literal["day", "week", "month"] = "day"
    top: int = 15
    value: str | None = None
    weight: str | None = None
    tables: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Kpi:
    """A headline figure of a page: the sum of ``measure`` (or ratio of sums) over a chart's filtered rows."""

    id: str
    chart: str
    measure: str | None = None
    ratio: tuple[str, str] | None = None
    percentile: float | None = None
    week_change: bool = False
    """The last 7 days shown against the 7 days before (daily rows of ``chart``; none with under 14 days)."""


@dataclass(frozen=True)
class Page:
    """A dashboard page: its file, charts and headline figures."""

    id: str
    charts: tuple[str, ...]
    kpis: tuple[Kpi, ...]


# Measures and ratios come from the semantic layer in the dbt project (radlake/semantic.py): the BI datasets of
# the SQL endpoint use the same definitions.
_EXAMS_DAILY = semantic.query("exam_volume_daily", ("exam_date", "institution", "modality"), ("exams",))

_TIMELINESS_DAILY = semantic.query(
    "report_timeliness_daily",
    ("exam_date", "institution", "priority"),
    ("exams", "on_time", "late", "missing", "pending", "decided"),
)
_ON_TIME = semantic.model("report_timeliness_daily").metrics["on_time_share"].ratio

_DEVICES_DAILY = semantic.query(
    "device_utilisation_daily",
    ("exam_date", "institution", "device_station"),
    ("exams", "busy_minutes", "span_minutes", "idle_minutes", "idle_gaps"),
)
_BUSY = semantic.model("device_utilisation_daily").metrics["busy_share"].ratio
_ADVANCED = semantic.model("advanced_exam_share").metrics["advanced_share"].ratio

# Exams are counted once from exam_volume_daily; exam_volume_by_item_daily counts an exam under each item, but
# an exam without a mapping has a single row there (its item is null), so its open statuses count exactly.
_COVERAGE_DAILY = """with total as (
    select exam_date, institution, sum(exam_count) as exams
    from exam_volume_daily
    group by exam_date, institution
),
open_names as (
    select exam_date, institution,
        sum(exam_count) filter (where mapping_status = 'review') as review,
        sum(exam_count) filter (where mapping_status not in ('matched', 'review')) as unmapped
    from exam_volume_by_item_daily
    where standard_code is null
    group by exam_date, institution
)
select total.exam_date, total.institution, total.exams,
    coalesce(open_names.review, 0) as review, coalesce(open_names.unmapped, 0) as unmapped,
    total.exams - coalesce(open_names.review, 0) - coalesce(open_names.unmapped, 0) as mapped
from total
left join open_names on open_names.exam_date = total.exam_date and open_names.institution = total.institution
order by total.exam_date, total.institution"""

_ASSETS_MONTHLY = """select study_month, institution, modality,
    sum(studies) as studies, sum(series) as series, sum(instances) as instances
from data_assets_monthly
group by study_month, institution, modality
order by study_month, institution, modality"""

_AI_DAILY = """select result_date, ai_name, studies, results, turnaround_p50_min
from ai_turnaround_daily
order by result_date, ai_name"""

CHARTS: tuple[Chart, ...] = (
    # Exam operations
    Chart("exams_by_day", "exams", "stack", _EXAMS_DAILY, x="exam_date", series="modality", measures=("exams",),
          date="exam_date"),
    Chart("exams_by_institution", "exams", "stack", _EXAMS_DAILY, x="institution", series="modality",
          measures=("exams",), date="exam_date"),
    Chart("exams_by_department", "exams", "hbar", semantic.query("advanced_exam_share",
          ("exam_month", "institution", "ordering_department"), ("exams",)), x="ordering_department",
          measures=("exams",), date="exam_month", date_grain="month"),
    Chart("top_standard_items", "exams", "hbar", """select exam_date, institution, standard_name,
    sum(exam_count) as exams
from exam_volume_by_item_daily
where standard_code is not null
group by exam_date, institution, standard_name
order by exam_date, institution, standard_name""", x="standard_name", measures=("exams",), date="exam_date",
          top=10),
    Chart("advanced_share", "exams", "bar", semantic.query("advanced_exam_share", ("exam_month", "institution"),
          ("advanced_exams", "performed_exams")), x="institution", ratio=_ADVANCED,
          date="exam_month", date_grain="month"),
    Chart("exams_by_week", "exams", "weekly", """select cast(date_trunc('week', exam_date) as date) as week,
    institution, sum(exam_count) as exams, count(distinct exam_date) as days
from exam_volume_daily
group by week, institution
order by week, institution""", x="week", measures=("exams",), date="week", date_grain="week"),
    # AI results back from routing (no institution: a result is counted per AI and day of its first result)
    Chart("ai_studies_by_day", "exams", "stack", _AI_DAILY, x="result_date", series="ai_name",
          measures=("studies",), inst=None, date="result_date"),
    Chart("ai_turnaround_by_day", "exams", "line", _AI_DAILY, x="result_date", series="ai_name",
          measures=("turnaround_p50_min",), inst=None, date="result_date"),
    # Report timeliness
    Chart("on_time_by_institution", "timeliness", "bar", _TIMELINESS_DAILY, x="institution", series="priority",
          ratio=_ON_TIME, date="exam_date"),
    Chart("on_time_by_day", "timeliness", "line", _TIMELINESS_DAILY, x="exam_date", series="institution",
          ratio=_ON_TIME, date="exam_date"),
    Chart("breaches_by_department", "timeliness", "hbar", """select exam_date, institution, ordering_department,
    count(*) as breaches
from report_timeliness
where timeliness in ('late', 'missing')
group by exam_date, institution, ordering_department
order by exam_date, institution, ordering_department""", x="ordering_department", measures=("breaches",),
          date="exam_date"),
    Chart("turnaround_percentiles", "timeliness", "percentiles", """select exam_date, institution, priority,
    cast(ceil(minutes_taken) as integer) as minutes, count(*) as exams
from report_timeliness
where timeliness in ('on_time', 'late') and minutes_taken is not null
group by exam_date, institution, priority, minutes
order by exam_date, institution, priority, minutes""", x="priority", value="minutes", weight="exams",
          date="exam_date"),
    # Devices
    Chart("device_busy_by_day", "devices", "heatmap", _DEVICES_DAILY, x="exam_date", y="device_station",
          measures=("busy_minutes",), date="exam_date"),
    Chart("device_exams", "devices", "hbar", _DEVICES_DAILY, x="device_station", measures=("exams",),
          date="exam_date", top=30),
    Chart("device_idle", "devices", "bar", _DEVICES_DAILY, x="device_station", measures=("idle_minutes",
          "idle_gaps"), date="exam_date"),
    # The analysts' file keeps no exam timestamps (quasi-identifiers), so load is shown per weekday, not per hour.
    Chart("device_weekdays", "devices", "heatmap", """select exam_date, institution, device_station,
    isodow(exam_date) as weekday, sum(exam_count) as exams
from device_utilisation_daily
group by exam_date, institution, device_station, weekday
order by exam_date, institution, device_station, weekday""", x="weekday", y="device_station", measures=("exams",),
          date="exam_date"),
    # Standardisation
    Chart("coverage_by_day", "standardisation", "line", _COVERAGE_DAILY, x="exam_date", series="institution",
          ratio=("mapped", "exams"), date="exam_date"),
    Chart("open_names_by_institution", "standardisation", "stack", _COVERAGE_DAILY, x="institution",
          measures=("unmapped", "review"), date="exam_date"),
    # Image quality (the consensus)
    Chart("header_completeness", "image_quality", "heatmap", """select study_date, institution, station_name,
    header_field, sum(instances) as instances, sum(instances_present) as present
from dicom_header_completeness
group by study_date, institution, station_name, header_field
order by study_date, institution, station_name, header_field""", x="header_field", y="station_name",
          ratio=("present", "instances"), date="study_date"),
    Chart("rule_violations", "image_quality", "stack", """select study_date, institution, station_name, rule_id,
    count(*) as violations
from acquisition_rule_violations
group by study_date, institution, station_name, rule_id
order by study_date, institution, station_name, rule_id""", x="station_name", series="rule_id",
          measures=("violations",), date="study_date"),
    # Data assets
    Chart("assets_by_month", "assets", "stack", _ASSETS_MONTHLY, x="study_month", series="modality",
          measures=("instances",), date="study_month", date_grain="month"),
    Chart("assets_by_institution", "assets", "table", _ASSETS_MONTHLY, x="institution", y="modality",
          measures=("studies", "series", "instances"), date="study_month", date_grain="month"),
    Chart("link_quality", "assets", "bar", """select exam_date, institution, sum(performed_exams) as performed_exams,
    sum(exams_without_images) as exams_without_images, sum(exams_without_empi) as exams_without_empi,
    sum(records_with_several_empi_ids) as records_with_several_empi_ids
from link_quality_summary
group by exam_date, institution
order by exam_date, institution""", x="institution", measures=("exams_without_images", "exams_without_empi",
          "records_with_several_empi_ids"), date="exam_date"),
)  # fmt: skip
"""Every chart, in page order."""

PAGES: tuple[Page, ...] = (
    Page("exams", tuple(c.id for c in CHARTS if c.page == "exams"), (
        Kpi("exams_total", "exams_by_day", measure="exams"),
        Kpi("advanced_share", "advanced_share", ratio=_ADVANCED),
        Kpi("week_change", "exams_by_day", measure="exams", week_change=True),
    )),
    Page("timeliness", tuple(c.id for c in CHARTS if c.page == "timeliness"), (
        Kpi("on_time_share", "on_time_by_institution", ratio=_ON_TIME),
        Kpi("breaches", "breaches_by_department", measure="breaches"),
        Kpi("p90_minutes", "turnaround_percentiles", percentile=0.9),
    )),
    Page("devices", tuple(c.id for c in CHARTS if c.page == "devices"), (
        Kpi("device_exams", "device_exams", measure="exams"),
        Kpi("busy_share", "device_exams", ratio=_BUSY),
        Kpi("idle_gaps", "device_exams", measure="idle_gaps"),
    )),
    Page("standardisation", tuple(c.id for c in CHARTS if c.page == "standardisation"), (
        Kpi("coverage_share", "coverage_by_day", ratio=("mapped", "exams")),
        Kpi("unmapped", "coverage_by_day", measure="unmapped"),
        Kpi("review", "coverage_by_day", measure="review"),
    )),
    Page("image_quality", tuple(c.id for c in CHARTS if c.page == "image_quality"), (
        Kpi("header_share", "header_completeness", ratio=("present", "instances")),
        Kpi("violations", "rule_violations", measure="violations"),
    )),
    Page("assets", tuple(c.id for c in CHARTS if c.page == "assets"), (
        Kpi("studies", "assets_by_month", measure="studies"),
        Kpi("instances", "assets_by_month", measure="instances"),
        Kpi("series", "assets_by_month", measure="series"),
    )),
)  # fmt: skip
"""The dashboard pages, in menu order (the stewards' console is built by :mod:`dashboards.console`)."""


def chart(chart_id: str) -> Chart:
    """The chart of that id."""
    return next(c for c in CHARTS if c.id == chart_id)
