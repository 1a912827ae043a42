"""Gold definitions: the dbt marts (with their tests as checks), the dbt resource and the dashboards."""

from __future__ import annotations

import dagster as dg

from orchestration.gold.dashboard import dashboard_asset
from orchestration.gold.dbt import dbt_gold_assets
from radlake.config import Settings


def build(settings: Settings) -> dg.Definitions:
    """The gold layer's definitions for these settings."""
    marts, dbt = dbt_gold_assets(settings)
    return dg.Definitions(assets=[marts, dashboard_asset(marts)], resources={"dbt": dbt})
