"""The lake_maintenance job: on its own schedule, queued like every writer, compacting the whole lake."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from radlake import lake
from radlake.config import load_settings, write_settings


def test_maintenance_job_compacts_every_table_on_its_own_schedule(tmp_path: Path) -> None:
    import dagster as dg

    from orchestration.maintenance import maintenance_job, maintenance_schedule
    from orchestration.resources import RadlakeResource
    from orchestration.schedules import LAKE_WRITER_TAGS

    config = write_settings({"lake": "lake", "schedule": {"maintenance_cron": "15 5 * * 0"}}, tmp_path / "r.yaml")
    settings = load_settings(config)
    for name in ("bronze/a", "silver/b"):
        for i in range(5):
            batch = pa.table({"id": [i]})
            lake.append_idempotent(settings, f"{settings.lake}/{name}", batch, app_id="t", txn_version=i)

    job = maintenance_job(settings)
    schedule = maintenance_schedule(settings, job)
    assert schedule.cron_schedule == "15 5 * * 0" and schedule.execution_timezone == settings.timezone
    assert LAKE_WRITER_TAGS.items() <= job.tags.items()

    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), resources={"radlake": RadlakeResource(config_path=str(config))}
    )

    assert result.success
    for name in ("bronze/a", "silver/b"):
        dt = lake.open_table(settings, f"{settings.lake}/{name}")
        assert len(dt.file_uris()) == 1
        assert sorted(pa.table(dt.to_pyarrow_dataset().to_table())["id"].to_pylist()) == [0, 1, 2, 3, 4]
