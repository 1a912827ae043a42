"""The demo on an S3 lake (moto server): every asset and check, the marts equal to the simulated truth."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from radlake import lake, warehouse
from radlake.config import load_settings, write_settings
from tests.simulated_truth import exam_volume_truth

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def s3_demo(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory):
    """Simulate a small group, point its radlake.yaml at s3://<bucket>/lake and materialise everything."""
    from orchestration.demo import demo_config, materialize_all, simulated_days
    from radlake.postgres import stop_embedded_server
    from simulator.simulate import simulate

    # The run points DAGSTER_HOME and dbt's variables at this S3 lake for the whole process: put them back after.
    # (Only those: pyspark marks the process as Spark Connect in the environment, and must keep that mark.)
    saved = {k: v for k, v in os.environ.items() if _restored(k)}
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in {
                "AWS_ENDPOINT_URL": moto_endpoint,
                "AWS_ACCESS_KEY_ID": "radlake-test",
                "AWS_SECRET_ACCESS_KEY": "radlake-test-secret",
                "AWS_REGION": "us-east-1",
                "AWS_ALLOW_HTTP": "true",
            }.items():
                mp.setenv(name, value)
            import boto3

            bucket = "radlake-demo"
            boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
            workdir = tmp_path_factory.mktemp("s3demo")
            # Two recent days: the run covers the day partitions from the first exam day to today (the DICOM
            # files' arrival day), so a simulation ending yesterday keeps the range short.
            start = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=2)
            simulate(workdir, institutions=2, days=2, exams_per_day=30, seed=11, start_date=start)
            first, _last = simulated_days(workdir)
            config = demo_config(workdir, first)
            config.update(lake=f"s3://{bucket}/lake", warehouse="gold/radlake.duckdb")
            write_settings(config, workdir / "radlake.yaml")
            settings = load_settings(workdir / "radlake.yaml")
            # As run_demo: every day partition from the first exam day to today (DICOM arrival day).
            today = datetime.now(ZoneInfo(settings.timezone)).date()
            try:
                success, checks = materialize_all(settings, workdir / ".dagster", first, today)
                yield workdir, settings, success, checks
            finally:
                stop_embedded_server(workdir / "postgres")
    finally:
        for name in [k for k in os.environ if _restored(k)]:
            del os.environ[name]
        os.environ.update(saved)


def _restored(name: str) -> bool:
    return name.startswith(("RADLAKE_", "DBT_", "DAGSTER_"))


def test_every_asset_and_check_succeeds_on_s3(s3_demo) -> None:
    workdir, settings, success, checks = s3_demo
    assert settings.lake.startswith("s3://")
    assert success
    assert checks and all(v == "passed" for v in checks.values()), checks
    assert not (workdir / "lake").exists(), "nothing may land on local disk"
    for table in ("bronze/dicom_instances", "bronze/dicom_files", "silver/dicom_studies", "silver/exams"):
        assert lake.table_version(settings, f"{settings.lake}/{table}") is not None, table


def test_the_s3_marts_equal_the_simulated_truth(s3_demo) -> None:
    workdir, settings, _, _ = s3_demo
    truth = exam_volume_truth(workdir / "truth" / "exams.csv", settings.privacy.min_cell)
    assert truth
    with warehouse.connect(settings) as con:
        mart = {
            (str(d), i, m): n
            for d, i, m, n in con.execute(
                "select exam_date, institution, modality, exam_count from exam_volume_daily"
            ).fetchall()
        }
        # The same connection reads the lake itself on S3 (delta_scan through the lake's secret).
        exams = con.execute(f"select count(*) from delta_scan('{settings.lake}/silver/exams')").fetchone()[0]
    assert mart == truth
    assert exams >= sum(truth.values())


def test_delta_files_are_in_the_bucket(s3_demo, s3_keys) -> None:
    _, settings, _, _ = s3_demo
    keys = s3_keys(f"{settings.lake}/silver/exams")
    assert any(k.endswith(".parquet") for k in keys) and any("/_delta_log/" in k for k in keys)
