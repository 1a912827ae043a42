"""Each layer's I/O on an S3 lake (moto server): delta-rs landing, Sail read/MERGE/replaceWhere, DuckDB, dbt."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from radlake import lake, warehouse
from radlake.config import Settings

pytestmark = pytest.mark.integration

UTC = dt.UTC


def test_delta_rs_lands_idempotently_in_the_bucket(s3_settings: Settings, s3_keys) -> None:
    uri = f"{s3_settings.lake}/bronze/landing"
    batch = pa.table({"id": [1, 2, 3], "day": ["2026-11-01", "2026-11-01", "2026-11-02"]})
    assert lake.append_idempotent(s3_settings, uri, batch, app_id="probe", txn_version=1, partition_by=["day"])
    assert not lake.append_idempotent(s3_settings, uri, batch, app_id="probe", txn_version=1, partition_by=["day"])
    assert lake.committed_version(s3_settings, uri, "probe") == 1
    keys = s3_keys(uri)
    assert any("/_delta_log/" in k for k in keys)
    assert any("day=2026-11-02/" in k and k.endswith(".parquet") for k in keys)
    data = lake.read_arrow(s3_settings, uri)  # pyarrow over the snapshot's file list
    assert data is not None
    assert sorted(zip(data["id"].to_pylist(), data["day"].to_pylist(), strict=True)) == [
        (1, "2026-11-01"),
        (2, "2026-11-01"),
        (3, "2026-11-02"),
    ]
    head = lake.head(s3_settings, uri, ["id"], 1)
    assert head is not None and head.num_rows == 1


def test_sail_reads_merges_and_replaces_on_s3(spark, s3_settings: Settings) -> None:
    uri = f"{s3_settings.lake}/silver/state"
    lake.append_idempotent(
        s3_settings, uri, pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), app_id="seed", txn_version=1
    )
    assert lake.read(spark, uri).count() == 3

    changes = spark.createDataFrame(
        [(2, "B", False), (3, None, True), (4, "d", False)], "id long, v string, _deleted boolean"
    )
    lake.merge(spark, changes, uri, ["id"], settings=s3_settings, delete_flag="_deleted")
    # Read back with the other engine: the commit Sail made on S3 is a valid Delta commit for delta-rs.
    after = lake.read_arrow(s3_settings, uri)
    assert after is not None
    assert sorted(zip(after["id"].to_pylist(), after["v"].to_pylist(), strict=True)) == [(1, "a"), (2, "B"), (4, "d")]

    days = f"{s3_settings.lake}/silver/by_day"
    rows = [(1, "2026-11-01"), (2, "2026-11-01"), (3, "2026-11-02")]
    lake.overwrite(spark.createDataFrame(rows, "id long, day string"), days, partition_by=["day"])
    lake.overwrite(
        spark.createDataFrame([(9, "2026-11-02")], "id long, day string"),
        days,
        partition_by=["day"],
        replace_where="day = '2026-11-02'",
    )
    got = sorted(tuple(r) for r in lake.read(spark, days).collect())
    assert got == [(1, "2026-11-01"), (2, "2026-11-01"), (9, "2026-11-02")]
    assert lake.table_version(s3_settings, days) == 1


def test_s3_secret_follows_the_aws_environment(s3_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = warehouse.s3_secret(s3_settings)
    host = os.environ["AWS_ENDPOINT_URL"].removeprefix("http://")
    assert secret["ENDPOINT"] == host and secret["URL_STYLE"] == "path" and secret["USE_SSL"] == "false"
    assert secret["KEY_ID"] == os.environ["AWS_ACCESS_KEY_ID"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.hospital.example:9000/")
    assert warehouse.s3_secret(s3_settings)["ENDPOINT"] == "minio.hospital.example:9000"
    assert warehouse.s3_secret(s3_settings)["USE_SSL"] == "true"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert "ENDPOINT" not in warehouse.s3_secret(s3_settings)  # AWS itself: DuckDB's default endpoint
    assert warehouse.s3_secret(Settings(lake="/tmp/local-lake")) == {}


def test_duckdb_reads_delta_on_s3(s3_settings: Settings) -> None:
    uri = f"{s3_settings.lake}/silver/duck"
    lake.append_idempotent(s3_settings, uri, pa.table({"id": [1, 2], "v": ["x", "y"]}), app_id="a", txn_version=1)
    lake.append_idempotent(s3_settings, uri, pa.table({"id": [3], "v": ["z"]}), app_id="a", txn_version=2)
    with warehouse.connect(s3_settings, read_only=False) as con:
        rows = con.execute(f"select id, v from delta_scan('{uri}') order by id").fetchall()
    assert rows == [(1, "x"), (2, "y"), (3, "z")]


def _exam_frames(spark):
    """A tiny RIS of two institutions: performed, cancelled and not-yet-performed orders over two days."""

    def t(day: int, hour: int) -> dt.datetime:
        return dt.datetime(2026, 11, day, hour, tzinfo=UTC)

    orders = spark.createDataFrame(
        [
            ("h01", 1, "H01A1", 100, 1, "routine", "CT头颅平扫", "CT", "completed", t(1, 1)),
            ("h01", 2, "H01A2", 100, 1, "emergency", "胸片", "DX", "completed", t(1, 2)),
            ("h01", 3, "H01A3", 101, 1, "routine", "CT胸部平扫", "CT", "completed", t(2, 3)),
            ("h02", 1, "H02A1", 100, 2, "consult", "MR颅脑", "MR", "cancelled", t(2, 2)),
            ("h02", 2, "H02A2", 100, 2, "routine", "MR腰椎", "MR", "scheduled", t(2, 4)),
        ],
        "institution string, order_id long, accession_number string, patient_id long, "
        "ordering_department_id int, priority string, raw_exam_name string, modality string, status string, "
        "ordered_at timestamp",
    )
    records = spark.createDataFrame(
        [("h01", 1, 1, 5, t(1, 2), t(1, 3)), ("h01", 2, 2, 6, t(1, 4), t(1, 5)), ("h01", 3, 3, 5, t(2, 4), t(2, 5))],
        "institution string, record_id long, order_id long, device_id int, started_at timestamp, ended_at timestamp",
    )
    reports = spark.createDataFrame(
        [("h01", 1, 1, "signed", t(1, 5), t(1, 6), t(1, 6))],
        "institution string, report_id long, order_id long, status string, written_at timestamp, "
        "signed_at timestamp, updated_at timestamp",
    )
    departments = spark.createDataFrame(
        [("h01", 1, "放射科"), ("h02", 2, "急诊科")], "institution string, department_id int, name string"
    )
    devices = spark.createDataFrame(
        [("h01", 5, "CT01", "CT"), ("h01", 6, "DR01", "DX")],
        "institution string, device_id int, station_name string, modality string",
    )
    patients = spark.createDataFrame(
        [("h01", 100, "M001"), ("h01", 101, "M002"), ("h02", 100, "M900")],
        "institution string, patient_id long, mrn string",
    )
    return orders, records, reports, departments, devices, patients


def _dbt_run(settings: Settings, workdir: Path) -> None:
    """``dbt run`` of the exam volume mart in a subprocess, with its own target folder (the repo's stays put)."""
    env = {**os.environ, **warehouse.dbt_env(settings)}
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [
        str(dbt),
        "run",
        "--select",
        "+exam_volume_daily",
        "--project-dir",
        str(warehouse.DBT_PROJECT_DIR),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.slow
def test_dbt_builds_the_same_mart_from_an_s3_lake_as_from_a_local_one(
    spark, s3_settings: Settings, tmp_path: Path
) -> None:
    from transforms.exams.build import build_exams

    local = Settings(lake=str(tmp_path / "local" / "lake"), warehouse=str(tmp_path / "local" / "gold.duckdb"))
    exams = build_exams(*_exam_frames(spark), timezone="Asia/Shanghai")
    marts = {}
    for name, settings in (("local", local), ("s3", s3_settings)):
        lake.overwrite(exams, f"{settings.lake}/silver/exams", partition_by=["exam_date"])
        _dbt_run(settings, tmp_path / name)
        with warehouse.connect(settings) as con:
            marts[name] = con.execute("select * from exam_volume_daily order by all").fetchall()
    assert marts["s3"], "the mart built from the S3 lake is empty"
    assert marts["s3"] == marts["local"]
