"""Pure transforms: bronze/dicom_instances → one row per series and one row per study.

Where the instances of a series or study disagree on a descriptive value (a station renamed mid-study),
the smallest value is taken, so the result does not depend on row order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from radlake import catalog
from transforms.dicom.frames import frame_counts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SERIES_SCHEMA = catalog.spark_schema(catalog.table("silver", "dicom_series"))
"""silver/dicom_series, as the catalog defines it (time span in the modality's local time)."""

STUDY_SCHEMA = catalog.spark_schema(catalog.table("silver", "dicom_studies"))
"""silver/dicom_studies, as the catalog defines it: one row per study, ``modalities`` sorted and distinct."""


def series_rollup(instances: DataFrame) -> DataFrame:
    """One row per series: instance and frame counts, slice thickness range, acquisition time span
    (:data:`SERIES_SCHEMA`).

    Parameters
    ----------
    instances
        bronze/dicom_instances (at least the columns the schema is made of); rows without a series UID are
        left out.

    Returns
    -------
    DataFrame
        With the columns of :data:`SERIES_SCHEMA` (their types are conformed by the table's handle on write).
    """
    rolled = (
        instances.filter(F.col("series_instance_uid").isNotNull())
        .groupBy("series_instance_uid")
        .agg(
            F.min("study_instance_uid").alias("study_instance_uid"),
            F.min("modality").alias("modality"),
            F.min("series_number").alias("series_number"),
            F.min("series_description").alias("series_description"),
            F.min("body_part_examined").alias("body_part_examined"),
            F.min("accession_number").alias("accession_number"),
            F.min("institution_name").alias("institution_name"),
            F.min("station_name").alias("station_name"),
            F.min("manufacturer").alias("manufacturer"),
            F.min("manufacturer_model_name").alias("manufacturer_model_name"),
            F.min("study_date").alias("study_date"),
            F.countDistinct("sop_instance_uid").alias("instance_count"),
            F.min("slice_thickness").alias("min_slice_thickness"),
            F.max("slice_thickness").alias("max_slice_thickness"),
            F.min("acquisition_datetime").alias("first_acquired_at"),
            F.max("acquisition_datetime").alias("last_acquired_at"),
            F.max("ingested_at").alias("last_ingested_at"),
        )
    )
    rolled = rolled.join(frame_counts(instances, "series_instance_uid"), "series_instance_uid", "left")
    return rolled


def study_rollup(instances: DataFrame) -> DataFrame:
    """One row per study: series, instance and frame counts, modalities, time span (:data:`STUDY_SCHEMA`).

    Parameters
    ----------
    instances
        bronze/dicom_instances; rows without a study UID are left out.

    Returns
    -------
    DataFrame
        With the columns of :data:`STUDY_SCHEMA` (their types are conformed by the table's handle on write).
    """
    rolled = (
        instances.filter(F.col("study_instance_uid").isNotNull())
        .groupBy("study_instance_uid")
        .agg(
            F.min("accession_number").alias("accession_number"),
            F.min("patient_id").alias("patient_id"),
            F.min("patient_name").alias("patient_name"),
            F.min("patient_sex").alias("patient_sex"),
            F.min("patient_birth_date").alias("patient_birth_date"),
            F.min("study_date").alias("study_date"),
            F.min("study_date_raw").alias("study_date_raw"),
            F.min("study_time").alias("study_time"),
            F.min("study_description").alias("study_description"),
            F.min("institution_name").alias("institution_name"),
            F.min("station_name").alias("station_name"),
            F.array_sort(F.collect_set("modality")).alias("modalities"),
            F.countDistinct("series_instance_uid").alias("series_count"),
            F.countDistinct("sop_instance_uid").alias("instance_count"),
            F.min("slice_thickness").alias("min_slice_thickness"),
            F.max("slice_thickness").alias("max_slice_thickness"),
            F.min("acquisition_datetime").alias("first_acquired_at"),
            F.max("acquisition_datetime").alias("last_acquired_at"),
            F.max("ingested_at").alias("last_ingested_at"),
        )
    )
    rolled = rolled.join(frame_counts(instances, "study_instance_uid"), "study_instance_uid", "left")
    return rolled
