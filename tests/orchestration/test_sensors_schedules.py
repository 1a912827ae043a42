"""Sensors, the nightly schedule and alerts, evaluated directly (no daemon needed)."""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.alerts import failure_alert_sensor
from orchestration.bronze.sensors import dicom_arrival_sensor
from orchestration.partitions import daily_partitions
from orchestration.schedules import nightly_job, nightly_schedule
from radlake.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    watch = tmp_path / "watch"
    watch.mkdir()
    return Settings(
        lake=str(tmp_path / "lake"),
        dicom={"watch": [watch]},
        schedule={"partitions_start": "2026-11-01", "refresh_days": 3, "nightly_cron": "30 1 * * *"},
        alerts={"file": tmp_path / "alerts.jsonl"},
    )


def test_dicom_sensor_requests_today_once_per_arrival(settings: Settings) -> None:
    job = dg.define_asset_job("dicom_ingest", selection="*")
    sensor = dicom_arrival_sensor(settings, job)
    watch = settings.dicom.watch[0]

    assert isinstance(sensor(dg.build_sensor_context(cursor=None)), dg.SkipReason)
    (watch / "a" / "b").mkdir(parents=True)
    (watch / "a" / "b" / "IM0001").write_bytes(b"x")
    result = sensor(dg.build_sensor_context(cursor=None))
    today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
    assert [r.partition_key for r in result.run_requests] == [today]
    cursor = result.cursor
    # Nothing new since the cursor: no run.
    assert isinstance(sensor(dg.build_sensor_context(cursor=cursor)), dg.SkipReason)
    later = watch / "IM0002"
    later.write_bytes(b"y")
    os.utime(later, (time.time() + 5, time.time() + 5))
    again = sensor(dg.build_sensor_context(cursor=cursor))
    assert len(again.run_requests) == 1 and again.run_requests[0].run_key != result.run_requests[0].run_key


def test_nightly_schedule_covers_recent_days_in_one_run(settings: Settings) -> None:
    schedule = nightly_schedule(settings, nightly_job())
    assert schedule.cron_schedule == "30 1 * * *" and schedule.execution_timezone == "Asia/Shanghai"
    when = datetime(2026, 11, 20, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    request = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when)).run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-17"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-20"
    # Never before the first partition.
    early = datetime(2026, 11, 2, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    request = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=early)).run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-01"


def test_partitions_are_local_days_from_the_configured_start(settings: Settings) -> None:
    parts = daily_partitions(settings)
    assert parts.timezone == "Asia/Shanghai"
    assert parts.get_first_partition_key() == "2026-11-01"
    assert daily_partitions(settings) is parts  # made once, reused by every asset


def test_failed_run_writes_an_alert(settings: Settings) -> None:
    @dg.asset
    def broken() -> None:
        raise ValueError("source table vanished")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    ).for_run_failure()
    failure_alert_sensor(settings.alerts)._run_status_sensor_fn(context)
    assert settings.alerts.file is not None
    alerts = [json.loads(line) for line in settings.alerts.file.read_text().splitlines()]
    assert len(alerts) == 1
    assert alerts[0]["kind"] == "run_failure" and alerts[0]["run_id"] == result.run_id
    assert date.fromisoformat(alerts[0]["at"][:10])
