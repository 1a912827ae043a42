"""The ``lake_maintenance`` job and its schedule: table upkeep apart from the nightly data run."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

import dagster as dg

from orchestration.resources import RadlakeResource
from orchestration.schedules import LAKE_WRITER_TAGS
from radlake.config import Settings

MAINTENANCE_JOB = "lake_maintenance"


@dg.op(
    description="Compact, checkpoint, clean the log and vacuum every table of the lake (radlake lake maintain).",
    out=dg.Out(dg.Nothing),
)
def maintain_lake(context: dg.OpExecutionContext, radlake: RadlakeResource) -> dg.Output:
    from radlake.maintenance import lake_tables, maintain_table

    settings = radlake.settings()
    done: dict[str, str] = {}
    for key in lake_tables(settings):
        r = maintain_table(settings, key)
        done[key] = (
            f"files {r.files_before} -> {r.files_after}, log files {r.log_files_before} -> {r.log_files_after}, "
            f"{'; '.join(r.steps) or 'nothing to do'} ({r.seconds:.2f} s)"
        )
        context.log.info(f"{key}: {done[key]}")
    return dg.Output(None, metadata={"tables": len(done), **done})


def maintenance_job() -> dg.JobDefinition:
    """One op over every table; it carries the lake-writer tag, so the run queue never runs it beside a writer."""

    @dg.job(name=MAINTENANCE_JOB, tags=LAKE_WRITER_TAGS, description=maintenance_job.__doc__)
    def _job() -> None:
        maintain_lake()

    return _job


def maintenance_schedule(settings: Settings, job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """At ``schedule.maintenance_cron`` local time (default 04:30, after the nightly run)."""
    return dg.ScheduleDefinition(
        name="lake_maintenance_schedule",
        job=job,
        cron_schedule=settings.schedule.maintenance_cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
