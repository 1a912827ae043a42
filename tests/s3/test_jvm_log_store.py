"""JVM Spark commits to an S3 lake through the same lock as radlake's delta-rs writers when a site names one."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from radlake import lake
from radlake.config import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "spark" / "start-connect-server.sh"


def _confs(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DELTA_", "SPARK_HOME"))}
    full |= {"PYTHON": sys.executable, "DELTA_JARS_DIR": "/nonexistent", **env}
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env=full, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    confs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")
    return confs, argv[argv.index("--packages") + 1].split(",")


def test_a_dynamodb_lock_table_is_shared_by_jvm_spark_and_radlake(monkeypatch) -> None:
    env = {"DELTA_DYNAMO_TABLE_NAME": "radlake_delta_log", "AWS_REGION": "eu-central-1"}
    confs, packages = _confs(env)
    for scheme in ("s3", "s3a"):
        assert confs[f"spark.delta.logStore.{scheme}.impl"] == "io.delta.storage.S3DynamoDBLogStore"
    assert confs["spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName"] == "radlake_delta_log"
    assert confs["spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"] == "eu-central-1"
    assert any(p.startswith("io.delta:delta-storage-s3-dynamodb:") for p in packages)
    # radlake's own writers, given the same environment, take the same lock.
    for name, value in {**env, "AWS_S3_LOCKING_PROVIDER": "dynamodb"}.items():
        monkeypatch.setenv(name, value)
    opts = lake.storage_options(Settings(lake="s3://b/lake", warehouse="/tmp/g/radlake.duckdb"))
    assert opts["DELTA_DYNAMO_TABLE_NAME"] == "radlake_delta_log" and opts["AWS_S3_LOCKING_PROVIDER"] == "dynamodb"


def test_without_a_lock_table_nothing_dynamodb_is_added() -> None:
    confs, packages = _confs({})
    assert not any("DynamoDB" in v for v in confs.values())
    assert not any("dynamodb" in p for p in packages)
