"""A JVM Spark Connect server (pyspark 4.2's own jars, Java 17) for the compatibility lane.

The server runs in its own process, started with ``spark-submit`` exactly as infra/spark/start-connect-server.sh
starts it on a cluster (minus delta-spark, which the in-memory cases do not need). The tests talk to it through
radlake's ``spark: sc://host:port`` path, beside the embedded Sail session: two Spark Connect clients in one
process coexist without trouble, while a JVM started inside the pytest process (``remote("local")``) would
leave a JVM and Spark Connect environment variables behind for every later test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240  # seconds; a JVM start takes 10-25 s on 2 busy cores


def java_missing_reason() -> str | None:
    """Why the JVM lane cannot run here, or None when it can."""
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return (
            "no Java runtime (java on PATH or JAVA_HOME): the JVM-Spark lane needs Java 17 "
            "(apt-get install openjdk-17-jre-headless)"
        )
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def jvm_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A Spark Connect session on JVM Spark 4.2 (local[2]) in a server process of its own."""
    reason = java_missing_reason()
    if reason:
        pytest.skip(reason)
    import pyspark

    from radlake.config import Settings
    from radlake.spark import spark_session

    spark_home = Path(pyspark.__file__).resolve().parent
    port = _free_port()
    log_path = tmp_path_factory.mktemp("jvm-spark") / "connect-server.log"
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        # Python UDF workers: this interpreter, and the repo importable (functions are pickled by reference).
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    cmd = [
        str(spark_home / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        "local[2]",
        "--driver-memory",
        "1g",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--conf",
        "spark.sql.session.timeZone=UTC",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"the JVM Spark Connect server did not start (exit {server.poll()}):\n{tail}")
            time.sleep(0.5)
        session = spark_session(Settings(spark=f"sc://127.0.0.1:{port}"))
        # Proof that this is the JVM and not the embedded engine (Sail answers version() with its own 0.x).
        version = session.sql("select version()").first()[0]
        assert version.startswith("4.2"), f"expected JVM Spark 4.2 behind port {port}, got {version!r}"
        yield session
        with contextlib.suppress(Exception):  # the server goes away next anyway
            session.stop()
    finally:
        # spark-submit is a script: the JVM is its child, in the session started above, so the group is told.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
