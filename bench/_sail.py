"""Bench helper: a Sail Spark Connect server in local-cluster mode (driver and workers in one process)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil


@contextlib.contextmanager
def sail_cluster(workers: int, log: Path) -> Iterator[tuple[str, psutil.Process]]:
    """Start ``sail spark server`` with ``SAIL_MODE=local-cluster``; yields (Spark Connect URL, its process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SAIL_MODE": "local-cluster", "SAIL_CLUSTER__WORKER_INITIAL_COUNT": str(workers)}
    env.setdefault("RUST_LOG", "warn")
    sail = Path(sys.executable).parent / "sail"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(sail), "spark", "server", "--ip", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the Sail server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"sc://127.0.0.1:{port}", psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
