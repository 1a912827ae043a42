"""The nightly run: every asset, with the recent day partitions rebuilt (late reports and corrections)."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.partitions import range_tags
from radlake.config import Settings

NIGHTLY_JOB = "nightly"
# Every job writes the lake, and a lake table has one writer at a time: the production instance
# (infra/dagster/dagster.yaml) lets one run with this tag go at once, the others wait in its queue.
LAKE_WRITER_TAGS = {"radlake/writer": "lake"}


def nightly_job() -> dg.UnresolvedAssetJobDefinition:
    """All assets: sync, ingest, standardize, EMPI, marts, with their quality checks."""
    # The PACS pull keeps to its own schedule inside the PACS's quiet hours (orchestration/bronze/pacs.py).
    selection = dg.AssetSelection.all() - dg.AssetSelection.tag("radlake/schedule", "pacs")
    return dg.define_asset_job(NIGHTLY_JOB, selection=selection, description=nightly_job.__doc__, tags=LAKE_WRITER_TAGS)


def nightly_schedule(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """At ``schedule.nightly_cron`` local time: one run over the last ``refresh_days`` days and today."""

    @dg.schedule(
        name="nightly_pipeline",
        job=job,
        cron_schedule=settings.schedule.nightly_cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def _nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = context.scheduled_execution_time.date()
        first = max(today - timedelta(days=settings.schedule.refresh_days), settings.schedule.partitions_start)
        return dg.RunRequest(run_key=f"nightly-{today.isoformat()}", tags=range_tags(first, today))

    return _nightly
