"""The demo on an S3 lake (moto server): every asset and check, the marts equal to the simulated truth."""

from __future__ import annotations

import pytest

from radlake import lake, warehouse
from radlake.config import load_settings
from tests.simulated_truth import exam_volume_truth

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def s3_demo(s3_demo_run):
    """The demo on s3://<bucket>/lake (tests/s3/conftest.py: simulated, configured and materialised in a process
    of its own, started with the first S3 test): its folder, settings, success and check verdicts."""
    success, checks = s3_demo_run.outcome(timeout=1500)
    settings = load_settings(s3_demo_run.workdir / "radlake.yaml")
    return s3_demo_run.workdir, settings, success, checks


def test_every_asset_and_check_succeeds_on_s3(s3_demo, s3_env) -> None:
    workdir, settings, success, checks = s3_demo
    assert settings.lake.startswith("s3://")
    assert success
    assert checks and all(v == "passed" for v in checks.values()), checks
    assert not (workdir / "lake").exists(), "nothing may land on local disk"
    for table in ("bronze/dicom_instances", "bronze/dicom_files", "silver/dicom_studies", "silver/exams"):
        assert lake.table_version(settings, f"{settings.lake}/{table}") is not None, table


def test_the_s3_marts_equal_the_simulated_truth(s3_demo, s3_env) -> None:
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
