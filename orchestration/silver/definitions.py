"""Silver definitions: Spark-built tables and the quality suites that guard lake tables."""

from __future__ import annotations

import dagster as dg

from orchestration.checks import quality_checks
from orchestration.lineage import hl7_configured
from orchestration.silver.assets import (
    dicom_rollups_asset,
    empi_asset,
    exam_name_map_asset,
    exams_asset,
    hl7_orders_asset,
    hl7_received,
    steward_tables,
)
from radlake.config import Settings


def build(settings: Settings) -> dg.Definitions:
    """The silver layer's definitions for these settings."""
    hl7: list[dg.AssetsDefinition | dg.AssetSpec] = (
        [hl7_received(settings), hl7_orders_asset(settings)] if hl7_configured(settings) else []
    )
    return dg.Definitions(
        assets=[
            *steward_tables(settings),
            dicom_rollups_asset(settings),
            empi_asset(settings),
            exam_name_map_asset(settings),
            exams_asset(settings),
            *hl7,
        ],
        asset_checks=quality_checks(),
    )
