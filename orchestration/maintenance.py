"""The ``lake_maintenance`` job and its schedule: table upkeep apart from the nightly data run."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

import dagster as dg

from orchestration.resources import RadlakeResource
from orchestration.schedules import LAKE_WRITER_TAGS
from radlake import catalog
from radlake.config import Settings

MAINTENANCE_JOB = "lake_maintenance"
OTHER_TABLES = "lake:other"


def _pool_of(settings: Settings, key: str) -> str:
    """The writer pool a table's writer runs in (tables no writer claims: their own pool)."""
    layer, _, name = key.partition("/")
    for spec in catalog.tables():
        if spec.key == key:
            return catalog.writer_pool(spec)
    for source in settings.sources:
        if catalog.cdc_source_table(source, name) is not None and layer in ("bronze", "silver"):
            return catalog.cdc_pool(source)
    return OTHER_TABLES


def _pools(settings: Settings) -> list[str]:
    fixed = {catalog.writer_pool(spec) for spec in catalog.tables()}
    return sorted(fixed | {catalog.cdc_pool(s) for s in settings.sources} | {OTHER_TABLES})


def _maintain_op(pool: str) -> dg.OpDefinition:
    """Upkeep of the tables whose writer runs in ``pool``, holding that pool: never beside that writer."""

    @dg.op(
        name="maintain_" + "".join(c if c.isalnum() else "_" for c in pool.removeprefix("lake:")),
        pool=pool,
        description=f"Compact, checkpoint, clean the log and vacuum the tables of pool {pool}.",
        out=dg.Out(dg.Nothing),
    )
    def _maintain(context: dg.OpExecutionContext, radlake: RadlakeResource) -> dg.Output:
        from radlake.maintenance import lake_tables, maintain_table

        settings = radlake.settings()
        done: dict[str, str] = {}
        for key in lake_tables(settings):
            if _pool_of(settings, key) != pool:
                continue
            r = maintain_table(settings, key)
            done[key] = (
                f"files {r.files_before} -> {r.files_after}, log files {r.log_files_before} -> "
                f"{r.log_files_after}, {'; '.join(r.steps) or 'nothing to do'} ({r.seconds:.2f} s)"
            )
            context.log.info(f"{key}: {done[key]}")
        return dg.Output(None, metadata={"tables": len(done), **done})

    return _maintain


def maintenance_job(settings: Settings) -> dg.JobDefinition:
    """One op per writer pool, each holding its pool (the writers' guard), so upkeep never runs beside a writer."""
    ops = [_maintain_op(pool) for pool in _pools(settings)]

    @dg.job(name=MAINTENANCE_JOB, tags=LAKE_WRITER_TAGS, description=maintenance_job.__doc__)
    def _job() -> None:
        for op in ops:
            op()

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
