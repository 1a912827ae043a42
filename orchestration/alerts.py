"""Run-failure alerts: always the log, plus a JSON-lines file (radlake.yaml) and a webhook (from the environment)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
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


def _error_line(message: str) -> str:
    """The first line of an error as Dagster serialised it, without the exception's module and class."""
    line = (message or "").strip().split("\n")[0]
    head, sep, rest = line.partition(": ")
    # "radlake.errors.SourceUnreachableError: source 'ris': ..." → the message a person can act on.
    return rest if sep and head.replace(".", "").replace("_", "").isalnum() and " " not in head else line


def _is_wrapper(message: str, cls_name: str | None) -> bool:
    # Dagster wraps the error of a step ("Error occurred while executing op ...") and of a retried step.
    return message.startswith("Exceeded max_retries") or cls_name == "DagsterExecutionStepExecutionError"


def failure_cause(step_failures: Sequence[dg.DagsterEvent], run_message: str | None) -> str:
    """The first line of why a run failed: its first failing step's own error, never Dagster's wrapping.

    A :class:`dagster.Failure` says it in its description; Dagster's wrappers (a retried step's "Exceeded
    max_retries of N", "Error occurred while executing op") give way to the error they wrap; a run that
    failed outside any step keeps the run's message.
    """
    for event in step_failures:
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description.strip().split("\n")[0]
        error = data.error
        while error is not None and error.cause is not None and _is_wrapper(error.message, error.cls_name):
            error = error.cause
        if error is not None:
            return _error_line(error.message)
    return _error_line(run_message or "")


def failure_alert_sensor(alerts: AlertsConfig) -> dg.SensorDefinition:
    """A sensor that turns every failed run into an alert whose summary ends with the cause's first line."""

    @dg.run_failure_sensor(name="run_failure_alerts", default_status=dg.DefaultSensorStatus.RUNNING)
    def _alert(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        failures = context.get_step_failure_events()
        steps = [e.step_key for e in failures if e.step_key]
        cause = failure_cause(failures, context.failure_event.message)
        send_alert(
            alerts,
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "kind": "run_failure",
                "run_id": run.run_id,
                "job": run.job_name,
                "failed_steps": steps,
                "cause": cause,
                "summary": f"run {run.run_id[:8]} of {run.job_name} failed: {cause}",
            },
            context.log,
        )

    return _alert
