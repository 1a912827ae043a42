"""Fixtures of the cluster tests: a Sail Spark Connect server in local-cluster mode, in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

WORKERS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def sail_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Spark Connect URL of a Sail server in local-cluster mode with several workers (one per session:
    driver, workers and shuffles run inside that server process)."""
    port = _free_port()
    env = {**os.environ, "SAIL_MODE": "local-cluster", "SAIL_CLUSTER__WORKER_INITIAL_COUNT": str(WORKERS)}
    log = tmp_path_factory.mktemp("sail") / "server.log"
    sail = Path(sys.executable).parent / "sail"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(sail), "spark", "server", "--ip", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"the Sail server exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the Sail server did not listen within 60 s")
    url = f"sc://127.0.0.1:{port}"
    yield url
    from radlake.spark import close_session

    close_session(url)  # while the server still answers
    proc.terminate()
    try:
        proc.wait(3)  # it usually exits at once (0.3 s after a whole pipeline run)
    except subprocess.TimeoutExpired:  # its workers may take over 30 s to stop; it holds nothing to keep
        proc.kill()
        proc.wait(10)
