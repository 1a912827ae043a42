"""The dashboards as one gold asset, rebuilt from the analysts' warehouse after the marts."""

# No `from __future__ import annotations` here: Dagster inspects the asset's parameters at definition time.

import dagster as dg

from orchestration.owners import GOLD_OWNERS
from orchestration.resources import RadlakeResource


def dashboard_asset(marts: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """``gold/dashboard``: the static offline dashboards and the stewards' console, after every mart."""

    @dg.asset(
        key=["gold", "dashboard"],
        group_name="gold",
        owners=GOLD_OWNERS,
        kinds={"html", "echarts"},
        deps=[key for key in marts.keys if key.path[0] == "gold"],
        description="Static offline dashboards (data/<chart>.json holds each chart's SQL and rows) and the "
        "stewards' quality console, built from the analysts' warehouse.",
    )
    def dashboard(radlake: RadlakeResource) -> dg.MaterializeResult:
        from dashboards import build_dashboards
        from ingestion.cdc import lagging_sources
        from orchestration.gold.dbt import lagging_metadata

        settings = radlake.settings()
        lagging = lagging_sources(settings)
        from ingestion.routing import queue_metrics

        result = build_dashboards(settings, lagging=lagging, routing=queue_metrics(settings))
        # Counts and paths only: chart rows are not copied into Dagster's event log.
        return dg.MaterializeResult(
            metadata={
                "folder": dg.MetadataValue.path(str(result.out)),
                "index": dg.MetadataValue.path(str(result.out / "index.html")),
                "pages": len(result.pages),
                "charts": len(result.rows),
                "rows": sum(result.rows.values()),
                "missing_marts": dg.MetadataValue.json(result.missing) if result.missing else "none",
                **lagging_metadata(lagging),
            }
        )

    return dashboard
