"""Sensors, the nightly schedule and alerts, evaluated directly (no daemon needed)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.alerts import failure_alert_sensor
from orchestration.bronze.sensors import cdc_stream_sensor
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


def _cdc_sensor(settings: Settings, monkeypatch: pytest.MonkeyPatch, statuses: list) -> dg.SensorDefinition:
    import ingestion.cdc

    # The sensor asks the domain's face (ingestion.cdc), so the stand-in goes there.
    monkeypatch.setattr(ingestion.cdc, "source_status", lambda _settings: [statuses[0]])
    return cdc_stream_sensor(settings, "ris", dg.define_asset_job("cdc_ris_sync", selection="*"))


def test_cdc_sensor_runs_a_query_source_at_every_tick(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingestion.cdc.status import SourceStatus

    query = {"dsn": "postgresql://x@db/ris", "mode": "query", "watermark_column": "updated_at"}
    settings = Settings.model_validate({**settings.model_dump(), "sources": {"ris": query}})
    sensor = _cdc_sensor(settings, monkeypatch, [SourceStatus(source="ris", mode="query", lag_seconds=0)])
    first = sensor(dg.build_sensor_context(cursor=None))
    second = sensor(dg.build_sensor_context(cursor=first.cursor))
    keys = [r.run_key for r in first.run_requests + second.run_requests]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_cdc_sensor_alerts_once_per_episode(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingestion.cdc.status import SourceStatus

    settings = Settings.model_validate({**settings.model_dump(), "sources": {"ris": {"dsn": "postgresql://x@db/ris"}}})
    statuses = [SourceStatus(source="ris", mode="logical", lag_bytes=0, lag_seconds=0)]
    sensor = _cdc_sensor(settings, monkeypatch, statuses)
    cursor = None
    for lag, problem in ((0, None), (5000, None), (6000, None), (0, None), (0, "slot radlake_ris is missing")):
        statuses[0] = SourceStatus(source="ris", mode="logical", lag_bytes=0, lag_seconds=lag, problem=problem)
        result = sensor(dg.build_sensor_context(cursor=cursor))
        assert not result.run_requests  # nothing pending: no run
        cursor = result.cursor
    assert settings.alerts.file is not None
    alerts = [json.loads(line) for line in settings.alerts.file.read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["cdc_lag", "cdc_problem"]
    assert alerts[1]["summary"] == "slot radlake_ris is missing"


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
    assert alerts[0]["summary"].endswith("failed: source table vanished")  # the cause, not Dagster's wrapper
    assert date.fromisoformat(alerts[0]["at"][:10])
