"""The Dagster code location: each layer's definitions merged, plus the nightly schedule and alerts."""

from __future__ import annotations

import dagster as dg

from orchestration.alerts import failure_alert_sensor
from orchestration.bronze.definitions import build as build_bronze
from orchestration.bronze.pacs import build as build_pacs
from orchestration.gold.definitions import build as build_gold
from orchestration.maintenance import maintenance_job, maintenance_schedule
from orchestration.resources import RadlakeResource
from orchestration.routing import route_cohort_job, routing_queue, routing_results
from orchestration.schedules import nightly_job, nightly_schedule
from orchestration.silver.definitions import build as build_silver
from radlake.config import Settings, find_config, load_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All assets, checks, jobs, schedules, sensors and resources for one radlake.yaml."""
    settings = settings or load_settings()
    nightly = nightly_job()
    upkeep = maintenance_job(settings)
    # Embedded Spark lives in the process: one process per run reuses one engine (a step per process would
    # start one engine per step). A cluster does the heavy work elsewhere, so steps may run in parallel.
    executor = dg.in_process_executor if settings.spark == "embedded" else dg.multiprocess_executor
    core = dg.Definitions(
        executor=executor,
        assets=[routing_queue, routing_results(settings)],
        jobs=[nightly, upkeep, route_cohort_job],
        schedules=[nightly_schedule(settings, nightly), maintenance_schedule(settings, upkeep)],
        sensors=[failure_alert_sensor(settings.alerts)],
        resources={"radlake": RadlakeResource(config_path=str(settings.config_path) if settings.config_path else None)},
    )
    return dg.Definitions.merge(
        core, build_bronze(settings), build_pacs(settings), build_silver(settings), build_gold(settings)
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location Dagster loads (``-m orchestration.definitions``), for the radlake.yaml found then.

    Loaded on demand, not at import: importing this module (the demo does) must not read a config, parse dbt
    or create the default lake's folders in whatever directory the process runs in (issue 33: a stray
    ``./lake/gold`` after ``make demo``).
    """
    return build_definitions(load_settings(find_config()))
