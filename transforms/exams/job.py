"""Spark job: read the RIS silver tables of every source and the DICOM/standard/EMPI tables, write silver/exams."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from radlake import catalog, lake
from radlake.config import Settings
from transforms.exams.build import build_exams

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RIS_TABLES = catalog.RIS_EXAM_TABLES  # what the catalog says silver/exams reads (its Dagster deps too)


def _optional(spark: SparkSession, settings: Settings, layer: catalog.Layer, name: str) -> DataFrame | None:
    if lake.table_version(settings, catalog.uri(settings, layer, name)) is None:
        return None
    return lake.read(spark, catalog.uri(settings, layer, name))


def ris_sources(settings: Settings) -> list[str]:
    """Configured sources whose silver tables hold a RIS (all six tables captured)."""
    found = []
    for name in settings.sources:
        uris = [catalog.uri(settings, "silver", catalog.cdc_table_name(name, t)) for t in RIS_TABLES]
        if all(lake.table_version(settings, u) is not None for u in uris):
            found.append(name)
    return found


def build_exams_table(
    spark: SparkSession, settings: Settings, first: date | None = None, last: date | None = None
) -> int:
    """Rebuild silver/exams (all of it, or the exam days ``first``..``last``); returns the rows written.

    The table is partitioned by ``exam_date``; a day range replaces exactly those days (``replaceWhere``), so
    re-running or backfilling a range leaves other days as they were.
    """
    sources = ris_sources(settings)
    hl7_orders = _optional(spark, settings, "silver", "hl7_orders")
    if not sources and hl7_orders is None:
        from radlake.errors import LakeError

        raise LakeError(
            "no RIS source has been synced yet: run `radlake cdc sync SOURCE` (or `radlake hl7 apply`) first"
        )
    frames: dict[str, DataFrame | None] = dict.fromkeys(RIS_TABLES)
    for table_name in RIS_TABLES if sources else ():
        parts = []
        for name in sources:
            institution = settings.sources[name].institution or name
            df = lake.read(spark, catalog.uri(settings, "silver", catalog.cdc_table_name(name, table_name)))
            parts.append(df.withColumn("institution", F.lit(institution)))
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part, allowMissingColumns=True)
        frames[table_name] = union
    exams = build_exams(
        frames["exam_orders"],
        frames["exam_records"],
        frames["reports"],
        frames["departments"],
        frames["devices"],
        frames["patients"],
        studies=_optional(spark, settings, "silver", "dicom_studies"),
        name_map=_optional(spark, settings, "silver", "exam_name_map"),
        patient_master=_optional(spark, settings, "silver", "patient_master"),
        timezone=settings.timezone,
        hl7_orders=hl7_orders,
    )
    spec = catalog.table("silver", "exams")
    target = catalog.table_uri(settings, spec)
    exams = catalog.conform_spark(spec, exams)
    condition = None
    if first is not None and last is not None and _matches_contract(settings, spec):
        condition = f"exam_date >= DATE'{first.isoformat()}' AND exam_date <= DATE'{last.isoformat()}'"
        exams = exams.filter(condition)
    lake.overwrite(exams, target, partition_by=spec.partition_by, replace_where=condition)
    written = lake.read(spark, target)
    return (written.filter(condition) if condition else written).count()


def _matches_contract(settings: Settings, spec: catalog.TableSpec) -> bool:
    """Whether the stored table exists with the catalog's columns and types.

    A day range can only replace days of a table whose schema it shares; when the contract changed (a column
    added, a type widened) the whole table is rebuilt from the silver inputs instead (it is derived data).
    """
    table = lake.open_table(settings, catalog.table_uri(settings, spec))
    if table is None:
        return False  # the first write creates the table
    import pyarrow as pa

    stored = pa.schema(table.schema().to_arrow())
    wanted = spec.schema
    # By name: engines may store the partition column last.
    same = wanted is not None and {f.name: f.type for f in stored} == {f.name: f.type for f in wanted}
    if not same:
        log.warning("%s: stored columns differ from the catalog; rebuilding every exam day", spec.key)
    return same
