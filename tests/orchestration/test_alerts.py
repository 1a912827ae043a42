"""Alerts: the webhook URL comes from the environment and never reaches a log whole; a broken file does not stop it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from orchestration.alerts import send_alert
from radlake.config import AlertsConfig

TOKEN = "tok-7Hq2Xz"


class _Log:
    """Collects what the alert code logs, at every level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def error(self, msg: str) -> None:
        self.lines.append(msg)

    warning = info = debug = error


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict], list[int]]]:
    """A real HTTP server on loopback: its base URL, the JSON bodies it received, and the status to answer."""
    received: list[dict] = []
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received, status
    server.shutdown()
    server.server_close()


def test_unwritable_file_does_not_stop_the_webhook(hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, received, _ = hook
    monkeypatch.setenv("RADLAKE_ALERT_WEBHOOK", f"{base}/robot/send?access_token={TOKEN}")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # a file where the alert file's folder should be: unwritable even for root
    alerts = AlertsConfig(file=blocker / "alerts.jsonl")
    log = _Log()
    send_alert(alerts, {"summary": "run 1 failed", "kind": "run_failure"}, log)
    assert [r["body"]["summary"] for r in received] == ["run 1 failed"]
    assert received[0]["path"] == f"/robot/send?access_token={TOKEN}"
    assert any("alert file" in line and "not written" in line for line in log.lines), log.lines
    assert not any(TOKEN in line for line in log.lines)


def test_failing_webhook_is_logged_without_its_token(hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, received, status = hook
    status[0] = 500
    monkeypatch.setenv("ALERT_URL", f"{base}/services/T0/B0/{TOKEN}?key={TOKEN}")
    alerts = AlertsConfig(file=tmp_path / "alerts.jsonl", webhook_env="ALERT_URL")
    log = _Log()
    send_alert(alerts, {"summary": "lag too high"}, log)  # never raises
    assert len(received) == 1
    warning = [line for line in log.lines if "webhook" in line]
    assert warning and "HTTP 500" in warning[0] and "127.0.0.1" in warning[0], log.lines
    assert not any(TOKEN in line for line in log.lines)
    assert json.loads((tmp_path / "alerts.jsonl").read_text())["summary"] == "lag too high"
    assert TOKEN not in (tmp_path / "alerts.jsonl").read_text()


def test_unreachable_webhook_and_unset_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADLAKE_ALERT_WEBHOOK", f"http://127.0.0.1:1/hook/{TOKEN}")
    log = _Log()
    send_alert(AlertsConfig(), {"summary": "x"}, log)
    assert any("webhook http://127.0.0.1/... failed" in line for line in log.lines), log.lines
    assert not any(TOKEN in line for line in log.lines)
    monkeypatch.delenv("RADLAKE_ALERT_WEBHOOK")
    assert AlertsConfig().webhook_url is None
