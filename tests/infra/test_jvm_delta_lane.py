"""The JVM Spark lane with Delta: the whole pipeline on infra/spark's Connect server equals the embedded run.

delta-spark's jars come from Maven, which this machine (like an air-gapped hospital) cannot reach. The test runs
when the offline bundle of ``infra/spark/start-connect-server.sh --fetch-jars DIR`` is present (``DELTA_JARS_DIR``,
else ``infra/compose/delta-jars/``, the folder the compose file mounts) and otherwise says why it did not run.
The server is started by the production start script itself, with the bundle as its jar folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_files import INFRA, ROOT

from tests.pipeline_equality import assert_same_pipeline

START_TIMEOUT = 240  # seconds: a JVM start with delta-spark on 2 busy cores
# Values that say when or where a row was made, not what it holds: they differ between any two runs.


def delta_jars() -> tuple[Path | None, str]:
    """The folder of the offline delta-spark bundle, or None and the reason the lane cannot run with Delta."""
    folder = Path(os.environ.get("DELTA_JARS_DIR") or INFRA / "compose" / "delta-jars")
    jars = sorted(p.name for p in folder.glob("*.jar")) if folder.is_dir() else []
    if not any(j.startswith("delta-spark_2.13-") for j in jars) or not any(j.startswith("hadoop-aws-") for j in jars):
        return None, (
            f"no delta-spark bundle in {folder} (DELTA_JARS_DIR): the JVM Spark lane ran without Delta "
            "(tests/compat). Make the bundle on a connected machine with "
            "`infra/spark/start-connect-server.sh --fetch-jars DIR` (docs/DEPLOY.md, air-gapped install) and "
            "point DELTA_JARS_DIR at it to run the whole pipeline on JVM Spark with Delta."
        )
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        return None, "no Java runtime: the JVM Spark lane needs Java 17 (apt-get install openjdk-17-jre-headless)"
    return folder, ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def jvm_delta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JVM Spark Connect server with delta-spark, started by infra/spark/start-connect-server.sh."""
    folder, reason = delta_jars()
    if folder is None:
        pytest.skip(reason)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("jvm-delta") / "connect-server.log"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PYSPARK_PYTHON": sys.executable,
        # Python UDF workers import radlake (functions are pickled by reference), as in the spark-connect image.
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "DELTA_JARS_DIR": str(folder),
        "SPARK_CONNECT_PORT": str(port),
        "SPARK_MASTER": "local[2]",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    for name in ("SPARK_HOME", "AWS_ENDPOINT_URL", "AWS_REGION"):
        env.pop(name, None)  # a local lake; the script finds Spark in the locked pyspark
    extra = [
        "--driver-memory",
        "2g",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["bash", str(INFRA / "spark" / "start-connect-server.sh"), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the JVM Spark Connect server did not start:\n{log_path.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.5)
        assert "air-gapped" in log_path.read_text(errors="replace"), "the script took Maven, not the bundle"
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_lane_says_whether_it_runs_with_delta() -> None:
    """Without the bundle the reason names the folder and how to make it; with it, nothing is missing."""
    folder, reason = delta_jars()
    if folder is None:
        assert "--fetch-jars" in reason or "Java" in reason
    else:
        assert not reason and any(folder.glob("delta-spark_2.13-*.jar"))


BUNDLE, NO_BUNDLE = delta_jars()


@pytest.mark.slow
@pytest.mark.integration
# Decided before any fixture runs: the shared demo run (session scope) is not made for a test that cannot run.
@pytest.mark.skipif(BUNDLE is None, reason=NO_BUNDLE)
def test_pipeline_on_jvm_spark_with_delta_equals_the_embedded_run(demo_run, demo_size, jvm_delta, tmp_path) -> None:
    from orchestration.demo import PSEUDONYM_KEY_FILE, run_demo
    from radlake.config import Settings, load_settings
    from radlake.spark import spark_session

    version = spark_session(Settings(spark=jvm_delta)).sql("select version()").first()[0]
    assert version.startswith("4.2"), f"expected JVM Spark 4.2, got {version!r}"
    embedded_dir, embedded = demo_run
    assert embedded.success
    jvm_dir = tmp_path / "jvm"
    jvm_dir.mkdir()
    shutil.copy(embedded_dir / PSEUDONYM_KEY_FILE, jvm_dir / PSEUDONYM_KEY_FILE)  # comparable pseudonyms

    jvm = run_demo(jvm_dir, spark=jvm_delta, **demo_size)

    assert jvm.success, jvm.checks
    assert load_settings(jvm.config).spark == jvm_delta
    assert_same_pipeline(embedded_dir, embedded, jvm_dir, jvm)
