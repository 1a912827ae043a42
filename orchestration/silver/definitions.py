"""Silver definitions: Spark-built tables and the quality suites that guard lake tables."""

from __future__ import annotations

import dagster as dg

from orchestration.checks import quality_checks
from orchestration.silver.assets import STEWARD_TABLES, dicom_rollups, empi_asset, exam_name_map_asset, exams_asset
from radlake.config import Settings


def build(settings: Settings) -> dg.Definitions:
    """The silver layer's definitions for these settings."""
    return dg.Definitions(
        assets=[
            *STEWARD_TABLES,
            dicom_rollups,
            empi_asset(settings),
            exam_name_map_asset(settings),
            exams_asset(settings),
        ],
        asset_checks=quality_checks(),
    )
