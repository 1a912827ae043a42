"""``radlake quality run``: a table of verdicts, the report written, exit 1 on a critical failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from radlake import catalog, lake
from radlake.config import Settings
from tests.gold.tiny_lake import EXAMS, EXAMS_SCHEMA
from tests.quality.test_blocking import corrupt

pytestmark = [pytest.mark.slow]


def test_silver_run_passes_then_fails_on_a_corrupt_batch(spark, tiny: tuple[Settings, Path]) -> None:
    settings, config = tiny
    runner = CliRunner()
    ok = runner.invoke(app, ["quality", "run", "--layer", "silver", "--config", str(config)], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    for name in ("silver_exams", "silver_exam_name_map", "silver_patient_master", "silver_accession_links"):
        assert name in ok.output
    assert "bronze_dicom" not in ok.output and "gold_" not in ok.output
    assert (settings.quality_dir / "index.html").is_file()

    uri = catalog.table_uri(settings, catalog.table("silver", "exams"))
    lake.overwrite(spark.createDataFrame(corrupt(EXAMS), EXAMS_SCHEMA), uri)
    bad = runner.invoke(app, ["quality", "run", "--layer", "silver", "--config", str(config)], env={"COLUMNS": "200"})
    assert bad.exit_code == 1
    assert "critical expectations failed in: silver_exams" in bad.output
    summary = (settings.quality_dir / "index.html").read_text(encoding="utf-8")
    assert "failing_rows/silver_exams/" in summary


def test_unknown_layer_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["quality", "run", "--layer", "platinum"])
    assert result.exit_code == 2
    assert "platinum" in result.output


def test_no_lake_is_an_error_not_an_empty_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a config there is no lake to check: one line saying so, not a table of skips and exit 0."""
    from radlake.errors import LakeError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADLAKE_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["quality", "run", "--layer", "silver"])
    assert isinstance(result.exception, LakeError), result.output
    assert "every suite was skipped" in str(result.exception) and "no radlake.yaml found" in str(result.exception)
