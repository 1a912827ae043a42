"""Bronze definitions: DICOM and CDC assets, their jobs and sensors."""

from __future__ import annotations

import dagster as dg

from orchestration.bronze.assets import cdc_source_assets, dicom_assets
from orchestration.bronze.sensors import cdc_stream_sensor, dicom_arrival_sensor
from orchestration.schedules import LAKE_WRITER_TAGS
from radlake.config import Settings


def build(settings: Settings) -> dg.Definitions:
    """The bronze layer's definitions for these settings."""
    dicom = dicom_assets(settings)
    cdc = dict(zip(settings.sources, cdc_source_assets(settings), strict=True))
    dicom_job = dg.define_asset_job("dicom_ingest", selection=dg.AssetSelection.assets(dicom), tags=LAKE_WRITER_TAGS)
    cdc_jobs = {
        source: dg.define_asset_job(
            f"cdc_{source}_sync", selection=dg.AssetSelection.assets(asset), tags=LAKE_WRITER_TAGS
        )
        for source, asset in cdc.items()
    }
    return dg.Definitions(
        assets=[dicom, *cdc.values()],
        jobs=[dicom_job, *cdc_jobs.values()],
        sensors=[dicom_arrival_sensor(settings, dicom_job)]
        + [cdc_stream_sensor(settings, source, job) for source, job in cdc_jobs.items()],
    )
