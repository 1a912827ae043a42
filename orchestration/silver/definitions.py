"""Silver definitions: Spark-built tables and the quality suites that guard lake tables."""

from __future__ import annotations

import dagster as dg

from orchestration.checks import quality_checks
from orchestration.silver.assets import (
    HL7_RECEIVED,
    STEWARD_TABLES,
    dicom_rollups,
    empi_asset,
    exam_name_map_asset,
    exams_asset,
    hl7_configured,
    hl7_orders,
)
from radlake.config import Settings


def build(settings: Settings) -> dg.Definitions:
    """The silver layer's definitions for these settings."""
    hl7: list[dg.AssetsDefinition | dg.AssetSpec] = [HL7_RECEIVED, hl7_orders] if hl7_configured(settings) else []
    return dg.Definitions(
        assets=[
            *STEWARD_TABLES,
            dicom_rollups,
            empi_asset(settings),
            exam_name_map_asset(settings),
            exams_asset(settings),
            *hl7,
        ],
        asset_checks=quality_checks(),
    )
