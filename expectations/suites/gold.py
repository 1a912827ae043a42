"""Gold suites: the marts' totals reconcile with silver (each batch is one row per institution or group)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites import Suite

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

# Performed, as every mart counts it: an exam record exists and the order was not cancelled.
_PERFORMED = "exam_started_at is not null and status <> 'cancelled'"


def _reconciles(*pairs: tuple[str, str], tolerance: str | None = None) -> list[Expectation]:
    """Each (gold, silver) column pair is equal on every row; ``tolerance`` names a difference column to bound."""
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    out: list[Expectation] = [e.ExpectTableRowCountToBeBetween(min_value=1, severity=FailureSeverity.CRITICAL)]
    out += [
        e.ExpectColumnPairValuesToBeEqual(column_A=a, column_B=b, severity=FailureSeverity.CRITICAL) for a, b in pairs
    ]
    if tolerance:
        out.append(
            e.ExpectColumnValuesToBeBetween(
                column=tolerance, min_value=-1, max_value=1, severity=FailureSeverity.CRITICAL
            )
        )
    return out


def _exam_volume() -> list[Expectation]:
    return _reconciles(("gold_exams", "silver_exams"))


def _items() -> list[Expectation]:
    return _reconciles(("gold_exam_items", "silver_exam_items"))


def _coverage() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    return [
        *_reconciles(("gold_lines", "silver_lines"), ("gold_mapped", "silver_mapped")),
        e.ExpectColumnValuesToBeBetween(
            column="coverage_share", min_value=0, max_value=1, severity=FailureSeverity.CRITICAL
        ),
    ]


def _devices() -> list[Expectation]:
    return _reconciles(("gold_exams", "silver_exams"), tolerance="busy_minutes_difference")


def _timeliness() -> list[Expectation]:
    return _reconciles(("gold_exams", "silver_exams"), ("gold_late", "silver_late"))


def _link_quality() -> list[Expectation]:
    return _reconciles(("gold_performed", "silver_performed"), ("gold_without_images", "silver_without_images"))


EXAM_VOLUME_DAILY = Suite(
    name="gold_exam_volume_daily",
    layer="gold",
    table="gold/exam_volume_daily",
    build=_exam_volume,
    description="gold/exam_volume_daily: exams per institution and day equal silver/exams' performed exams "
    "(modalities under privacy.min_cell share a row, so the day is the grain that must add up).",
    sql=f"""
        with silver as (
            select institution, exam_date, count(*) as silver_exams
            from delta_scan('{{lake}}/silver/exams') where {_PERFORMED} group by all
        ),
        gold as (
            select institution, exam_date, sum(exam_count) as gold_exams from gold.exam_volume_daily group by all
        )
        select institution, exam_date, coalesce(gold_exams, 0) as gold_exams,
               coalesce(silver_exams, 0) as silver_exams
        from silver full outer join gold using (institution, exam_date)
    """,
    requires=("silver/exams",),
    reads_warehouse=True,
)

EXAM_VOLUME_BY_ITEM = Suite(
    name="gold_exam_volume_by_item_daily",
    layer="gold",
    table="gold/exam_volume_by_item_daily",
    build=_items,
    description="gold/exam_volume_by_item_daily: exam-items per institution equal silver/exams' (one per code).",
    sql=f"""
        with silver as (
            select institution,
                   sum(case when exam_name_status = 'matched' and len(exam_codes) > 0
                            then len(list_distinct(exam_codes)) else 1 end) as silver_exam_items
            from delta_scan('{{lake}}/silver/exams') where {_PERFORMED} group by all
        ),
        gold as (
            select institution, sum(exam_count) as gold_exam_items from gold.exam_volume_by_item_daily group by all
        )
        select institution, coalesce(gold_exam_items, 0) as gold_exam_items,
               coalesce(silver_exam_items, 0) as silver_exam_items
        from silver full outer join gold using (institution)
    """,
    requires=("silver/exams",),
    reads_warehouse=True,
)

STANDARD_COVERAGE = Suite(
    name="gold_standard_coverage",
    layer="gold",
    table="gold/standard_coverage",
    build=_coverage,
    description="gold/standard_coverage: order lines and mapped exams per institution equal silver/exams'.",
    sql="""
        with silver as (
            select institution, count(*) as silver_lines,
                   count(*) filter (where exam_name_status = 'matched' and len(exam_codes) > 0) as silver_mapped
            from delta_scan('{lake}/silver/exams') group by all
        )
        select institution, coalesce(gold.ordered_lines, 0) as gold_lines, coalesce(silver_lines, 0) as silver_lines,
               coalesce(gold.mapped_exams, 0) as gold_mapped, coalesce(silver_mapped, 0) as silver_mapped,
               gold.coverage_share
        from silver full outer join gold.standard_coverage as gold using (institution)
    """,
    requires=("silver/exams",),
    reads_warehouse=True,
)

DEVICE_UTILISATION = Suite(
    name="gold_device_utilisation_daily",
    layer="gold",
    table="gold/device_utilisation_daily",
    build=_devices,
    description="gold/device_utilisation_daily: exams and busy minutes per device equal silver/exams'.",
    sql=f"""
        with silver as (
            select institution, device_station, count(*) as silver_exams,
                   sum(epoch(exam_ended_at) - epoch(exam_started_at)) / 60.0 as silver_busy
            from delta_scan('{{lake}}/silver/exams')
            where {_PERFORMED} and device_station is not null and exam_ended_at is not null
            group by all
        ),
        gold as (
            select institution, device_station, sum(exam_count) as gold_exams, sum(busy_minutes) as gold_busy
            from gold.device_utilisation_daily group by all
        )
        select institution, device_station, coalesce(gold_exams, 0) as gold_exams,
               coalesce(silver_exams, 0) as silver_exams,
               round(coalesce(gold_busy, 0) - coalesce(silver_busy, 0), 1) as busy_minutes_difference
        from silver full outer join gold using (institution, device_station)
    """,
    requires=("silver/exams",),
    reads_warehouse=True,
)

REPORT_TIMELINESS = Suite(
    name="gold_report_timeliness",
    layer="gold",
    table="gold/report_timeliness",
    build=_timeliness,
    description="gold/report_timeliness: exams with a deadline and late reports per institution equal silver's.",
    sql=f"""
        with deadlines as (
            select e.institution, e.exam_ended_at,
                   case coalesce(own.clock_stop, dflt.clock_stop)
                        when 'report_signed' then e.report_signed_at else e.report_written_at end as stopped_at,
                   coalesce(own.max_minutes, dflt.max_minutes) as max_minutes
            from delta_scan('{{lake}}/silver/exams') as e
            left join gold.report_deadlines as own on own.institution = e.institution and own.priority = e.priority
            left join gold.report_deadlines as dflt on dflt.institution = '*' and dflt.priority = e.priority
            where {_PERFORMED} and e.exam_ended_at is not null
        ),
        silver as (
            select institution, count(*) as silver_exams,
                   count(*) filter (where epoch(stopped_at) - epoch(exam_ended_at) > max_minutes * 60) as silver_late
            from deadlines where max_minutes is not null group by all
        ),
        gold as (
            select institution, count(*) as gold_exams, count(*) filter (where timeliness = 'late') as gold_late
            from gold.report_timeliness group by all
        )
        select institution, coalesce(gold_exams, 0) as gold_exams, coalesce(silver_exams, 0) as silver_exams,
               coalesce(gold_late, 0) as gold_late, coalesce(silver_late, 0) as silver_late
        from silver full outer join gold using (institution)
    """,
    requires=("silver/exams",),
    reads_warehouse=True,
)

LINK_QUALITY = Suite(
    name="gold_link_quality_summary",
    layer="gold",
    table="gold/link_quality_summary",
    build=_link_quality,
    description="gold/link_quality_summary: performed exams and exams without images equal silver/exams'.",
    sql=f"""
        with silver as (
            select institution, count(*) as silver_performed,
                   count(*) filter (where study_instance_uid is null) as silver_without_images
            from delta_scan('{{lake}}/silver/exams') where {_PERFORMED} group by all
        )
        select institution, coalesce(gold.performed_exams, 0) as gold_performed,
               coalesce(silver_performed, 0) as silver_performed,
               coalesce(gold.exams_without_images, 0) as gold_without_images,
               coalesce(silver_without_images, 0) as silver_without_images
        from silver full outer join (
            select institution, sum(performed_exams) as performed_exams,
                   sum(exams_without_images) as exams_without_images
            from gold.link_quality_summary group by institution
        ) as gold using (institution)
    """,
    requires=("silver/exams",),
    reads_warehouse=True,
)

SUITES = (
    EXAM_VOLUME_DAILY,
    EXAM_VOLUME_BY_ITEM,
    STANDARD_COVERAGE,
    DEVICE_UTILISATION,
    REPORT_TIMELINESS,
    LINK_QUALITY,
)
