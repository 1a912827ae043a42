"""Spark job: map every distinct raw exam name of the RIS orders and write silver/exam_name_map."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from radlake.config import Settings
from radlake.lake import Lake
from transforms.exam_names.spark_job import EngineFactory, map_exam_names
from transforms.exam_names.store import name_map, read_decisions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def ris_order_names(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """(institution, raw_exam_name) of the exam orders of every synced RIS source and of the orders that came by
    HL7 (silver/hl7_orders); None before any of them."""
    lake = Lake(settings)
    frames = []
    for name, source in settings.sources.items():
        orders = lake.cdc_state(name, "exam_orders")
        if not orders.exists():
            continue
        frames.append(
            orders.read_spark(spark).select(
                F.lit(source.institution or name).alias("institution"), F.col("raw_exam_name")
            )
        )
    hl7 = lake.table("silver", "hl7_orders")
    if hl7.exists():
        frames.append(hl7.read_spark(spark).select("institution", "raw_exam_name"))
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
    target = name_map(settings)
    target.spark_overwrite(mapped)
    return target.read_spark(spark).count()
