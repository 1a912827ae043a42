"""Spark job: read bronze/dicom_instances, write silver/dicom_series and silver/dicom_studies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake import catalog, lake
from radlake.config import Settings
from transforms.dicom.rollups import series_rollup, study_rollup

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Only what the roll-ups read: header_json (the widest column by far) is never scanned.
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
    "ingested_at",
)


def build_dicom_rollups(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Rebuild the series and study roll-ups from all landed instances.

    Parameters
    ----------
    spark
        A session from :func:`radlake.spark.spark_session`.
    settings
        Where the lake is.

    Returns
    -------
    dict
        ``layer/name`` → rows written, for both tables.

    Raises
    ------
    radlake.errors.LakeError
        bronze/dicom_instances does not exist yet.
    """
    source = catalog.table_uri(settings, catalog.table("bronze", "dicom_instances"))
    instances = lake.read(spark, source).select(*_INSTANCE_COLUMNS)
    counts: dict[str, int] = {}
    for name, rollup in (("dicom_series", series_rollup), ("dicom_studies", study_rollup)):
        spec = catalog.table("silver", name)
        uri = catalog.table_uri(settings, spec)
        lake.overwrite(rollup(instances), uri, partition_by=spec.partition_by)
        counts[spec.key] = lake.read(spark, uri).count()
    return counts
