"""Spark job: map every distinct raw exam name of the RIS orders and write silver/exam_name_map."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from radlake import catalog, lake
from radlake.config import Settings
from transforms.exam_names.spark_job import EngineFactory, map_exam_names
from transforms.exam_names.store import name_map_uri, read_decisions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def ris_order_names(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """(institution, raw_exam_name) of the exam orders of every synced RIS source and of the orders that came by
    HL7 (silver/hl7_orders); None before any of them."""
    frames = []
    for name, source in settings.sources.items():
        uri = catalog.uri(settings, "silver", catalog.cdc_table_name(name, "exam_orders"))
        if lake.table_version(settings, uri) is None:
            continue
        frames.append(
            lake.read(spark, uri).select(F.lit(source.institution or name).alias("institution"), F.col("raw_exam_name"))
        )
    hl7 = catalog.uri(settings, "silver", "hl7_orders")
    if lake.table_version(settings, hl7) is not None:
        frames.append(lake.read(spark, hl7).select("institution", "raw_exam_name"))
    if not frames:
        return None
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union


def build_exam_name_map(spark: SparkSession, settings: Settings, standard_version: str | None = None) -> int:
    """Re-map all distinct raw names (steward decisions re-applied) and replace silver/exam_name_map.

    A full history holds about 250,000 distinct names, which the engine maps in seconds; re-mapping all of
    them on every run is what makes new decisions, lexicon words and standard versions apply everywhere.

    Returns
    -------
    int
        Rows written (distinct institution/name pairs).

    Raises
    ------
    radlake.errors.LakeError
        No RIS source has been synced yet.
    """
    names = ris_order_names(spark, settings)
    if names is None:
        from radlake.errors import LakeError

        raise LakeError("no RIS exam orders in the lake yet: run `radlake cdc sync SOURCE` first")
    factory = EngineFactory(standard_version, tuple(read_decisions(settings)))
    mapped = map_exam_names(names, factory, name_column="raw_exam_name")
    lake.overwrite(mapped, name_map_uri(settings))
    return lake.read(spark, name_map_uri(settings)).count()
