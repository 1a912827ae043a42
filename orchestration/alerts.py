"""Run-failure alerts: always the log, plus a JSON-lines file (radlake.yaml) and a webhook (from the environment)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from radlake.config import AlertsConfig


def redact_url(url: str) -> str:
    """Scheme and host of a URL only: webhook paths and query strings carry tokens that must not reach a log."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<webhook>"
    return f"{parts.scheme}://{host}/..." if parts.scheme and host else "<webhook>"


def _post(url: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def send_alert(alerts: AlertsConfig, payload: dict[str, Any], log: Any) -> None:
    """Deliver one alert to the log, the alert file and the webhook, each independently of the others.

    A file that cannot be written or a webhook that fails is logged as a warning, never raised: alerting must
    not fail the sensor, and one broken channel must not silence the other. The webhook URL (from the
    environment, see :class:`radlake.config.AlertsConfig`) is logged as scheme and host only.
    """
    log.error(f"radlake alert: {payload.get('summary')}")
    if alerts.file is not None:
        try:
            alerts.file.parent.mkdir(parents=True, exist_ok=True)
            with alerts.file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(payload, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning(f"alert file {alerts.file} not written: {exc.strerror or type(exc).__name__}")
    url = alerts.webhook_url
    if url:
        try:
            _post(url, payload)
        except (OSError, ValueError) as exc:  # URLError/HTTPError are OSErrors; a malformed URL a ValueError
            if isinstance(exc, urllib.error.HTTPError):
                reason = f"HTTP {exc.code} {exc.reason}"
            else:
                reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
            # Whatever the reason says, the URL's secret part never reaches the log.
            reason = str(reason).replace(url, redact_url(url))
            log.warning(f"alert webhook {redact_url(url)} failed: {reason}")


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
