"""An S3 lake for tests: one moto server on localhost per test process, a fresh bucket per test; the demo on an S3
lake, started in a process of its own with the first S3 test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from radlake.config import Settings

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "radlake-test"
SECRET_KEY = "radlake-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The moto server's request log: one line per request with its HTTP status (412: a refused conditional put)."""
    return tmp_path_factory.mktemp("moto") / "moto.log"


@pytest.fixture(scope="session")
def moto_endpoint(moto_log: Path) -> Iterator[str]:
    """A real S3 HTTP API (moto server) on localhost, in a process of its own.

    Not moto's ThreadedMotoServer: some delta-rs calls (``DeltaTable.history``) hold the GIL while they wait
    for HTTP, so a server thread in the same process never answers and the call times out after 3 minutes.
    One server per test run on purpose: Sail builds its object store for a bucket from the AWS environment on
    first use and keeps it, so a second server on another port would be unreachable for the engine.
    """
    pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    port = _free_port()
    log = moto_log
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto server did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The standard AWS environment variables pointing at the moto server (what a site sets for MinIO)."""
    for name, value in _aws_env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


def _client(endpoint: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """A fresh bucket on the moto server."""
    name = f"radlake-{uuid.uuid4().hex[:12]}"
    _client(s3_env).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(s3_bucket: str, tmp_path: Path) -> Settings:
    """Settings of a lake at ``s3://<fresh bucket>/lake``; the warehouse DuckDB file stays local."""
    return Settings(lake=f"s3://{s3_bucket}/lake", warehouse=str(tmp_path / "gold" / "radlake.duckdb"))


@pytest.fixture
def s3_keys(s3_env: str) -> Callable[[str], list[str]]:
    """``keys("s3://bucket/prefix")``: every object key under it (proof that data landed in the bucket)."""

    def keys(uri: str) -> list[str]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        found: list[str] = []
        for page in _client(s3_env).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [o["Key"] for o in page.get("Contents", [])]
        return found

    return keys


class S3Demo:
    """The demo's pipeline on ``s3://<bucket>/lake``, going on in a child process (tests/s3/s3_demo_run.py)."""

    def __init__(self, endpoint: str, root: Path) -> None:
        self.bucket = "radlake-demo"
        self.workdir = root / "s3demo"
        self.out = root / "outcome.json"
        self.log = root / "run.log"
        _client(endpoint).create_bucket(Bucket=self.bucket)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_SESSION_TOKEN", "AWS_PROFILE"))}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.s3.s3_demo_run", str(self.workdir), self.bucket, str(self.out)],
                cwd=ROOT,
                env={**env, **_aws_env(endpoint)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def outcome(self, timeout: float) -> tuple[bool, dict[str, str]]:
        """Wait for the run: whether it succeeded, and each asset check's verdict."""
        code = self.proc.wait(timeout)
        assert code == 0 and self.out.exists(), f"the S3 demo run failed ({code}): {self.log.read_text()[-3000:]}"
        outcome = json.loads(self.out.read_text(encoding="utf-8"))
        return outcome["success"], outcome["checks"]


@pytest.fixture(scope="session", autouse=True)
def s3_demo_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Demo | None]:
    """The S3 demo (tests/s3/test_s3_demo.py), started with the first S3 test when its tests are selected.

    It runs in its own process while the other S3 tests run in this one: about a minute of pipeline that would
    otherwise follow them. Its own AWS environment (this process's is set per test), its own bucket on the one
    moto server.
    """
    if not any(item.path.name == "test_s3_demo.py" for item in request.session.items):
        yield None
        return
    run = S3Demo(request.getfixturevalue("moto_endpoint"), tmp_path_factory.mktemp("s3demo-run"))
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            from radlake.postgres import stop_embedded_server

            run.proc.kill()
            run.proc.wait(30)
            stop_embedded_server(run.workdir / "postgres")  # the child stops it when it finishes
