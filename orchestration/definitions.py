"""The Dagster code location: bronze, silver and gold assets with their checks, built from radlake.yaml."""

from __future__ import annotations

import dagster as dg

from orchestration.bronze.assets import cdc_source_assets, dicom_headers
from orchestration.checks import quality_checks
from orchestration.gold.dbt import dbt_gold_assets
from orchestration.resources import RadlakeResource
from orchestration.silver.assets import dicom_rollups, exams_asset
from radlake.config import CONFIG_ENV, Settings, find_config, load_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All assets, checks and resources for one radlake.yaml (``$RADLAKE_CONFIG`` by default)."""
    settings = settings or load_settings()
    config_path = str(settings.config_path) if settings.config_path else None
    gold, dbt = dbt_gold_assets(settings)
    return dg.Definitions(
        assets=[dicom_headers, *cdc_source_assets(settings), dicom_rollups, exams_asset(settings), gold],
        asset_checks=quality_checks(),
        resources={"radlake": RadlakeResource(config_path=config_path), "dbt": dbt},
    )


defs = build_definitions(load_settings(find_config()))

__all__ = ["CONFIG_ENV", "build_definitions", "defs"]
