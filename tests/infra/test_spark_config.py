"""infra/spark: the Connect server's defaults and the start script, online (Maven) and air-gapped (jars)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from infra_files import INFRA

SCRIPT = INFRA / "spark" / "start-connect-server.sh"


def _defaults() -> dict[str, str]:
    conf = {}
    for line in (INFRA / "spark" / "spark-defaults.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = line.split(None, 1)
            conf[key] = value.strip()
    return conf


def test_defaults_enable_delta_and_map_s3_to_s3a() -> None:
    conf = _defaults()
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.connect.grpc.binding.port"] == "15002"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert not any("secret" in k.lower() or "access.key" in k.lower() for k in conf), "no keys in the file"


def _dry_run(env: dict[str, str], *extra: str) -> list[str]:
    full = {**os.environ, "PYTHON": sys.executable, **env}
    for name in ("SPARK_HOME", "DELTA_JARS_DIR", "AWS_ENDPOINT_URL", "AWS_REGION"):
        if name not in env:
            full.pop(name, None)
    done = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *extra], env=full, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return shlex.split(done.stdout)


def test_online_start_takes_delta_from_maven(tmp_path: Path) -> None:
    argv = _dry_run({"DELTA_JARS_DIR": str(tmp_path / "none"), "DELTA_VERSION": "4.4.1"})
    assert Path(argv[0]).name == "spark-submit" and Path(argv[0]).is_file()
    assert argv[argv.index("--class") + 1] == "org.apache.spark.sql.connect.service.SparkConnectServer"
    packages = argv[argv.index("--packages") + 1].split(",")
    assert "io.delta:delta-spark_2.13:4.4.1" in packages
    # hadoop-aws must match the Hadoop client jars that ship with this pyspark.
    (hadoop_aws,) = [p for p in packages if p.startswith("org.apache.hadoop:hadoop-aws:")]
    jars = Path(argv[0]).parent.parent / "jars"
    assert (jars / f"hadoop-client-api-{hadoop_aws.rsplit(':', 1)[1]}.jar").is_file()
    assert Path(argv[argv.index("--properties-file") + 1]) == INFRA / "spark" / "spark-defaults.conf"
    assert "--jars" not in argv


def test_airgapped_start_takes_the_local_jar_folder(tmp_path: Path) -> None:
    jars = tmp_path / "delta-jars"
    jars.mkdir()
    for name in ("delta-spark_2.13-4.4.1.jar", "delta-storage-4.4.1.jar", "hadoop-aws-3.5.0.jar"):
        (jars / name).write_bytes(b"")
    argv = _dry_run(
        {"DELTA_JARS_DIR": str(jars), "AWS_ENDPOINT_URL": "http://minio:9000", "AWS_REGION": "us-east-1"},
        "--driver-memory",
        "2g",
    )
    assert "--packages" not in argv
    listed = argv[argv.index("--jars") + 1].split(",")
    assert sorted(Path(j).name for j in listed) == sorted(p.name for p in jars.iterdir())
    confs = {argv[i + 1] for i, a in enumerate(argv) if a == "--conf"}
    assert "spark.hadoop.fs.s3a.endpoint=http://minio:9000" in confs
    assert "spark.hadoop.fs.s3a.path.style.access=true" in confs
    assert "spark.hadoop.fs.s3a.connection.ssl.enabled=false" in confs
    assert argv[-2:] == ["--driver-memory", "2g"]


def test_the_delta_version_suits_the_locked_pyspark() -> None:
    """delta-spark 4.4 is built for Spark 4.2 (pyspark<=4.2.0), the version uv.lock pins."""
    import pyspark

    assert pyspark.__version__.startswith("4.2")
    assert 'DELTA_VERSION="${DELTA_VERSION:-4.4.1}"' in SCRIPT.read_text()
