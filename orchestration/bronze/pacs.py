"""The PACS pull as a Dagster asset on a schedule: every configured peer, the last ``pacs.pull_days`` days."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.lineage import lake_asset_args
from orchestration.metadata import table_metadata
from orchestration.owners import BRONZE_OWNERS
from orchestration.resources import RadlakeResource
from orchestration.schedules import LAKE_WRITER_TAGS
from radlake import catalog, lake
from radlake.config import Settings
from radlake.lake import Lake

PULL_JOB = "pacs_pull"
OWN_SCHEDULE_TAG = ("radlake/schedule", "pacs")
"""Assets on their own schedule (the PACS's night window), left out of the nightly run."""


def pacs_pull_asset(settings: Settings) -> dg.AssetsDefinition:
    """bronze/pacs_pull_state: one run pulls each peer in ``pacs.peers`` (its instances land through the
    receiver or, by C-GET, the folder lander)."""
    spec = catalog.table("bronze", "pacs_pull_state")

    @dg.asset(
        **lake_asset_args(settings, spec),
        owners=BRONZE_OWNERS,
        kinds={"delta", "dicom"},
        tags=dict([OWN_SCHEDULE_TAG]),
        pool=catalog.writer_pool(spec),
    )
    def pacs_pull_state(context: dg.AssetExecutionContext, radlake: RadlakeResource) -> dg.MaterializeResult:
        """Find and retrieve the recent studies of every configured PACS; resumes what earlier runs left."""
        from ingestion.pacs import pull_studies

        settings = radlake.settings()
        uri = Lake(settings).table(spec).uri
        before = lake.table_version(settings, uri)
        today = datetime.now(ZoneInfo(settings.timezone)).date()
        since = today - timedelta(days=settings.pacs.pull_days)
        figures: dict[str, int] = {"found": 0, "complete": 0, "failed": 0}
        for name, peer in settings.pacs.peers.items():
            report = pull_studies(settings, peer.peer, since, today)
            context.log.info(f"{name}: {report.complete} complete, {report.failed} failed {report.stopped}".strip())
            figures["found"] += report.found
            figures["complete"] += report.complete + report.already_complete
            figures["failed"] += report.failed
        meta = table_metadata(settings, uri, since_version=before if before is not None else -1)
        return dg.MaterializeResult(metadata={**meta, **{f"pacs.{k}": v for k, v in figures.items()}})

    return pacs_pull_state


def pacs_pull_schedule(settings: Settings, job: "dg.UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    """At ``pacs.pull_cron`` local time (the start of ``pacs.window``)."""
    return dg.ScheduleDefinition(
        name="pacs_pull_schedule",
        job=job,
        cron_schedule=settings.pacs.pull_cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def build(settings: Settings) -> dg.Definitions:
    """The PACS pull's asset, job and schedule (nothing when no peer is configured)."""
    if not settings.pacs.peers:
        return dg.Definitions()
    asset = pacs_pull_asset(settings)
    job = dg.define_asset_job(PULL_JOB, selection=dg.AssetSelection.assets(asset), tags=LAKE_WRITER_TAGS)
    return dg.Definitions(assets=[asset], jobs=[job], schedules=[pacs_pull_schedule(settings, job)])
