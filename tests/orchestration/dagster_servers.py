"""The Dagster webserver and daemon as real processes on a demo workdir, for tests that drive them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The real daemon with short ticks: its backfill loop sleeps DEFAULT_DAEMON_INTERVAL_SECONDS (30 s) between
# iterations, read when the loop starts, and its run queue is read every dequeue_interval_seconds (5 s, the
# instance's default), so each run of a chain would wait for ticks, not for work.
DAEMON = (
    "import dagster._daemon.controller as c; c.DEFAULT_DAEMON_INTERVAL_SECONDS = 1; "
    "from dagster._core.run_coordinator import QueuedRunCoordinator as Q; "
    "Q.dequeue_interval_seconds = property(lambda self: 1); "
    "from dagster._daemon.cli import main; main()"
)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict:
    """One GraphQL request to the webserver on ``port``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def dagster_env(workdir: Path, config: Path) -> dict[str, str]:
    """The environment ``make ui`` gives the Dagster processes of a demo workdir."""
    return {**os.environ, "RADLAKE_CONFIG": str(config), "DAGSTER_HOME": str(workdir / ".dagster")}


STOP_GRACE_SECONDS = 3.0
"""How long a stopped server may take to exit on SIGTERM (its graceful stop took 3-11 s on a busy machine)."""


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then after STOP_GRACE_SECONDS SIGKILL to the process and the code servers it started (its process
    group; they would otherwise outlive it until their heartbeat times out). Nothing of theirs is needed after a
    test: its runs have finished, and the instance's SQLite commits are atomic."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@contextmanager
def webserver(workdir: Path, config: Path, *, daemon: bool = False) -> Iterator[int]:
    """The webserver (and, with ``daemon``, the daemon) on the demo's Dagster home; yields the port."""
    port = free_port()
    env = dagster_env(workdir, config)
    procs: list[subprocess.Popen] = []
    logs = {"webserver": workdir / f"webserver-{port}.log", "daemon": workdir / f"daemon-{port}.log"}
    with logs["webserver"].open("w") as web_log, logs["daemon"].open("w") as daemon_log:
        try:
            command = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
            # Each in a process group of its own with the code servers it starts (see _stop).
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
                                          start_new_session=True))  # fmt: skip
            if daemon:
                command = [sys.executable, "-c", DAEMON, "run", "-w", "workspace.yaml"]
                procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=daemon_log, stderr=subprocess.STDOUT,
                                              start_new_session=True))  # fmt: skip
            _wait_for_assets(port, procs, logs["webserver"])
            yield port
        finally:
            for proc in reversed(procs):
                _stop(proc)


def _wait_for_assets(port: int, procs: list[subprocess.Popen], log: Path) -> None:
    """Until the code location has loaded (the server answers before it has)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            data = graphql(port, "{ assetNodes { id } }")
            if (data.get("data") or {}).get("assetNodes"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise AssertionError(f"the Dagster servers did not come up: {log.read_text()[-3000:]}")
        time.sleep(0.25)
