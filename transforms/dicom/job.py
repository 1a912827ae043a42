"""Spark job: read bronze/dicom_instances, write the series and study roll-ups and the DICOMweb index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from radlake.config import Settings
from radlake.lake import Lake
from transforms.dicom.dicomweb import dicomweb_instances, dicomweb_series, dicomweb_studies
from transforms.dicom.frames import frame_rows
from transforms.dicom.rollups import series_rollup, study_rollup

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Only what the roll-ups read: header_json (the widest column by far) is scanned only for the DICOMweb index.
_INSTANCE_COLUMNS = (
    "sop_instance_uid",
    "study_instance_uid",
    "series_instance_uid",
    "patient_id",
    "patient_name",
    "patient_sex",
    "patient_birth_date",
    "accession_number",
    "modality",
    "study_date",
    "study_date_raw",
    "study_time",
    "study_description",
    "series_number",
    "series_description",
    "body_part_examined",
    "institution_name",
    "station_name",
    "manufacturer",
    "manufacturer_model_name",
    "slice_thickness",
    "acquisition_datetime",
    "number_of_frames",
    "ingested_at",
)
_INDEX_COLUMNS = (
    *_INSTANCE_COLUMNS,
    "sop_class_uid",
    "instance_number",
    "transfer_syntax_uid",
    "file_path",
    "file_sha256",
    "header_json",
)
_FRAME_COLUMNS = ("sop_instance_uid", "series_instance_uid", "study_instance_uid", "frames", "ingested_at")
_ADDED_COLUMNS = ("number_of_frames", "frames")  # issue 30: bronze tables landed before lack them until next append


def build_dicom_rollups(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Rebuild the series and study roll-ups, the DICOMweb index and the frame table from all landed instances.

    Parameters
    ----------
    spark
        A session from :func:`radlake.spark.spark_session`.
    settings
        Where the lake is.

    Returns
    -------
    dict
        ``layer/name`` → rows written, for each table of :data:`transforms.dicom.ROLLUP_TABLES`.

    Raises
    ------
    radlake.errors.LakeError
        bronze/dicom_instances does not exist yet.
    """
    lake = Lake(settings)
    source = lake.table("bronze", "dicom_instances")
    bronze = source.read_spark(spark)
    types = source.spark_schema
    for name in _ADDED_COLUMNS:
        if name not in bronze.columns:
            bronze = bronze.withColumn(name, F.lit(None).cast(types[name].dataType))
    instances = bronze.select(*_INSTANCE_COLUMNS)
    indexed = bronze.select(*_INDEX_COLUMNS)
    counts: dict[str, int] = {}
    for name, rollup in (
        ("dicom_series", lambda: series_rollup(instances)),
        ("dicom_studies", lambda: study_rollup(instances)),
        ("dicomweb_studies", lambda: dicomweb_studies(indexed)),
        ("dicomweb_series", lambda: dicomweb_series(indexed)),
        ("dicomweb_instances", lambda: dicomweb_instances(indexed)),
        ("dicom_frames", lambda: frame_rows(bronze.select(*_FRAME_COLUMNS))),
    ):
        target = lake.table("silver", name)
        target.spark_overwrite(rollup())
        counts[target.key] = target.read_spark(spark).count()
    return counts
