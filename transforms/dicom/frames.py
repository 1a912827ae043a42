"""Pure transforms: the frames of enhanced multi-frame instances, and frame counts per series and study."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from radlake import catalog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FRAMES_SCHEMA = catalog.spark_schema(catalog.table("silver", "dicom_frames"))
"""silver/dicom_frames, as the catalog defines it: one row per (sop_instance_uid, frame_number)."""


def study_bucket(column: str = "study_instance_uid") -> F.Column:
    """0-255 from a Study Instance UID (the first byte of its SHA-256): the partition of study-grained tables."""
    return F.conv(F.substring(F.sha2(F.col(column), 256), 1, 2), 16, 10).cast("int")


def frame_rows(instances: DataFrame) -> DataFrame:
    """One row per frame of each enhanced multi-frame instance (bronze ``frames``), its latest landing only.

    Parameters
    ----------
    instances
        bronze/dicom_instances with ``sop_instance_uid``, the series and study UIDs, ``frames`` and
        ``ingested_at``; instances without per-frame groups give no rows.

    Returns
    -------
    DataFrame
        With the columns of :data:`FRAMES_SCHEMA`.
    """
    latest = (
        instances.filter(F.col("frames").isNotNull() & F.col("study_instance_uid").isNotNull())
        .groupBy("sop_instance_uid")
        .agg(
            F.max_by(F.struct("series_instance_uid", "study_instance_uid", "frames"), "ingested_at").alias("i"),
            F.max("ingested_at").alias("last_ingested_at"),
        )
    )
    rows = (
        latest.select(
            "sop_instance_uid",
            F.col("i.series_instance_uid").alias("series_instance_uid"),
            F.col("i.study_instance_uid").alias("study_instance_uid"),
            "last_ingested_at",
            F.explode("i.frames").alias("f"),
        )
        .select("*", "f.*")
        .drop("f")
    )
    rows = rows.withColumn("study_bucket", study_bucket())
    return rows


def frame_counts(instances: DataFrame, by: str) -> DataFrame:
    """Frames of pixel data per ``by`` (a series or study UID column): each instance's ``number_of_frames``
    counted once however often it landed; instances without pixel data count none.

    Parameters
    ----------
    instances
        bronze/dicom_instances with ``sop_instance_uid``, ``number_of_frames`` and the ``by`` column.
    by
        ``series_instance_uid`` or ``study_instance_uid``.

    Returns
    -------
    DataFrame
        ``by`` and ``frame_count`` (bigint, never null).
    """
    per_instance = instances.groupBy(by, "sop_instance_uid").agg(F.max("number_of_frames").alias("n"))
    return per_instance.groupBy(by).agg(F.coalesce(F.sum("n"), F.lit(0)).cast("bigint").alias("frame_count"))
