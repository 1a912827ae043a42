"""A RIS at a closed port: the sensor fails its tick at once, the run fails with the cause on its first line.

The cause names the source, host and port and never the password (given through ``password_file``); the run
failure alert (file and webhook) carries the same line. Retries follow radlake.yaml's ``retries``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.alerts import failure_alert_sensor
from orchestration.bronze.assets import cdc_source_assets
from orchestration.bronze.sensors import SourceUnreachable, cdc_stream_sensor
from orchestration.resources import RadlakeResource
from radlake.config import load_settings, write_settings
from tests.orchestration.dagster_servers import free_port
from tests.orchestration.test_alerts import hook  # noqa: F401  (a fixture: a real HTTP server)

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def closed(tmp_path: Path):
    """Settings of one RIS whose port nobody listens on, with its password in a file; and that port."""
    port = free_port()
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    config = {
        "lake": str(tmp_path / "lake"),
        "sources": {
            "ris_b": {"dsn": f"host=127.0.0.1 port={port} user=radlake dbname=ris", "password_file": "pw"},
        },
        "alerts": {"file": "alerts.jsonl"},
        "retries": {"max_retries": 2, "delay_seconds": 0.2, "backoff": 2},
    }
    write_settings(config, tmp_path / "radlake.yaml")
    return load_settings(tmp_path / "radlake.yaml"), port


def test_sensor_tick_fails_at_once_and_alerts_once(closed) -> None:
    settings, port = closed
    sensor = cdc_stream_sensor(settings, "ris_b", dg.define_asset_job("cdc_ris_b_sync", selection="*"))
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(SourceUnreachable) as raised:
            sensor(dg.build_sensor_context(cursor=None))
        assert time.monotonic() - started < 12  # one connect attempt, no retries in a sensor
    line = str(raised.value).splitlines()[0]
    print(f"\nsensor tick error: {line}")
    assert line.startswith(f"source 'ris_b': database at 127.0.0.1:{port} unreachable: ")
    assert "refused" in line.lower()
    alerts = [json.loads(x) for x in settings.alerts.file.read_text().splitlines()]
    assert len(alerts) == 1, alerts  # two failed ticks, one alert
    assert alerts[0]["summary"].startswith(line) and PASSWORD not in json.dumps(alerts)


def test_run_fails_with_the_cause_first(closed, hook, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    settings, port = closed
    base, received, _ = hook
    monkeypatch.setenv("RADLAKE_ALERT_WEBHOOK", f"{base}/hook")
    (settings.config_path.parent / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(settings.config_path.parent / "dagster"))  # as the UI reads it
    started = time.monotonic()
    result = dg.materialize(
        cdc_source_assets(settings),
        instance=instance,
        resources={"radlake": RadlakeResource(config_path=str(settings.config_path))},
        raise_on_error=False,
    )
    elapsed = time.monotonic() - started
    assert not result.success
    # Three attempts (two retries), waits of 0.2 s and 0.4 s: the configured retries, not Dagster's 15/30/60 s.
    assert elapsed < 30, elapsed
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    ui_line = failure.step_failure_data.user_failure_data.description.splitlines()[0]
    print(f"\nrun's step failure (UI): {ui_line}")
    assert ui_line.startswith(f"source 'ris_b': database at 127.0.0.1:{port} unreachable: ")
    assert "gave up after 3 attempts" in ui_line
    logs = "\n".join(str(e.message) for e in instance.all_logs(result.run_id))
    assert logs.count(f"127.0.0.1:{port} unreachable") == 2  # each retry logged, with where it went
    assert PASSWORD not in logs

    # What the UI shows: the step failure's and the run failure's error through the webserver's GraphQL schema
    # (the heading of each is error.message), first line the cause itself, no Dagster class before it.
    shown = _ui_error_lines(instance, result.run_id)
    print(f"UI first lines: {shown}")
    assert set(shown) == {"ExecutionStepFailureEvent", "RunFailureEvent"}, shown
    for line in shown.values():
        assert line.startswith(f"source 'ris_b': database at 127.0.0.1:{port} unreachable: "), line
        assert "gave up after 3 attempts" in line and PASSWORD not in line

    run_failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=run_failure,
    ).for_run_failure()  # fmt: skip
    failure_alert_sensor(settings.alerts)._run_status_sensor_fn(context)
    alert = json.loads(settings.alerts.file.read_text().splitlines()[-1])
    print(f"alert summary: {alert['summary']}")
    assert alert["cause"] == ui_line
    assert alert["summary"].endswith(ui_line)
    assert received and received[-1]["body"]["cause"] == ui_line
    assert PASSWORD not in json.dumps(alert) + json.dumps(received)


RUN_ERRORS = """query ($runId: ID!) { runOrError(runId: $runId) { ... on Run { eventConnection { events {
    __typename
    ... on ExecutionStepFailureEvent { error { message } }
    ... on RunFailureEvent { error { message } }
} } } } }"""


def _ui_error_lines(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Event type → the first line of its error as the webserver's GraphQL API serves it to the UI."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import EmptyWorkspaceTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    with WorkspaceProcessContext(instance, EmptyWorkspaceTarget()) as workspace:
        data = execute_dagster_graphql(workspace.create_request_context(), RUN_ERRORS, {"runId": run_id}).data
    events = data["runOrError"]["eventConnection"]["events"]
    return {e["__typename"]: e["error"]["message"].splitlines()[0] for e in events if e.get("error")}
