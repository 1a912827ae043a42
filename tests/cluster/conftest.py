"""Fixtures of the cluster tests: a Sail Spark Connect server in local-cluster mode, in its own process, and the
demo's pipeline run on it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

WORKERS = 3
ROOT = Path(__file__).resolve().parents[2]


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


class ClusterDemo:
    """The demo run on the cluster, going on in a child process (tests/cluster/cluster_demo.py)."""

    def __init__(self, workdir: Path, url: str, size: dict[str, int]) -> None:
        self.workdir = workdir
        self.out = workdir.parent / "summary.json"
        self.log = workdir.parent / "run.log"
        with self.log.open("wb") as log:
            command = ["-m", "tests.cluster.cluster_demo", str(workdir), url, json.dumps(size), str(self.out)]
            self.proc = subprocess.Popen(
                [sys.executable, *command],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def result(self, timeout: float) -> SimpleNamespace:
        """Wait for the run; its DemoSummary's fields (config, tables, marts, checks, success)."""
        code = self.proc.wait(timeout)
        assert code == 0 and self.out.exists(), f"the cluster run failed ({code}): {self.log.read_text()[-3000:]}"
        summary = json.loads(self.out.read_text(encoding="utf-8"))
        return SimpleNamespace(**{**summary, "config": Path(summary["config"])})


def _parse_dbt_once(root: Path) -> None:
    """dbt's manifest, parsed here first if stale (a fresh checkout): the two runs would otherwise both parse the
    project into its one target folder at the same time. The dbt variables this sets are put back after."""
    from orchestration.gold.dbt import ensure_manifest
    from radlake.config import Settings

    saved = dict(os.environ)
    try:
        ensure_manifest(Settings(lake=str(root / "lake"), warehouse=str(root / "gold" / "radlake.duckdb")))
    finally:
        for name in [k for k in os.environ if k.startswith(("RADLAKE_", "DBT_")) and k not in saved]:
            del os.environ[name]
        os.environ.update({k: v for k, v in saved.items() if os.environ.get(k) != v})


@pytest.fixture(scope="session")
def cluster_demo(sail_cluster: str, demo_size: dict[str, int]) -> Iterator[ClusterDemo]:
    """The demo's whole pipeline on the Sail cluster, started at once in a process of its own.

    Asked for before ``demo_run``, it runs while this process builds the shared embedded demo: the two runs
    overlap on the machine's two cores (each is mostly one busy Python process at a time) instead of following
    each other. Both pseudonymise with the session's key (``RADLAKE_PSEUDONYM_KEY``, which wins over a demo's key
    file, and which the child inherits), so their pseudonyms compare. Outside pytest's temporary folder, as
    ``demo_run``: its embedded PostgreSQL may run as another user.
    """
    from radlake.pseudonym import KEY_ENV
    from tests.demo_servers import stop_demo_postgres

    assert os.environ.get(KEY_ENV), "both runs must share the session's pseudonym key"
    root = Path(tempfile.mkdtemp(prefix="radlake-cluster-"))
    root.chmod(0o755)
    workdir = root / "cluster"
    workdir.mkdir()
    _parse_dbt_once(root)
    run = ClusterDemo(workdir, sail_cluster, demo_size)
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(30)
        stop_demo_postgres(workdir)
        shutil.rmtree(root, ignore_errors=True)
