"""Run-failure alerts: always the log, plus a JSON-lines file and/or a webhook as radlake.yaml says."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from radlake.config import AlertsConfig


def send_alert(alerts: AlertsConfig, payload: dict[str, Any], log: Any) -> None:
    """Deliver one alert. A webhook that fails is logged, never raised: alerting must not fail the sensor."""
    log.error(f"radlake alert: {payload.get('summary')}")
    if alerts.file is not None:
        alerts.file.parent.mkdir(parents=True, exist_ok=True)
        with alerts.file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(payload, ensure_ascii=False) + "\n")
    if alerts.webhook:
        request = urllib.request.Request(
            alerts.webhook,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except OSError as exc:
            log.warning(f"alert webhook {alerts.webhook} failed: {exc}")


def failure_alert_sensor(alerts: AlertsConfig) -> dg.SensorDefinition:
    """A sensor that turns every failed run into an alert (run id, job, failing steps, the first error)."""

    @dg.run_failure_sensor(name="run_failure_alerts", default_status=dg.DefaultSensorStatus.RUNNING)
    def _alert(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
        first_line = (context.failure_event.message or "").split("\n")[0]
        send_alert(
            alerts,
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "kind": "run_failure",
                "run_id": run.run_id,
                "job": run.job_name,
                "failed_steps": steps,
                "summary": f"run {run.run_id[:8]} of {run.job_name} failed: {first_line}",
            },
            context.log,
        )

    return _alert
