"""dbt's own tests bite: unit tests run without any lake, and a recomputation test catches a drifted mart."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from radlake.config import Settings
from tests.gold.dbt_cli import BuiltGold, run_dbt

pytestmark = [pytest.mark.slow]


def test_unit_tests_need_no_lake(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "no-lake-here"))
    code, output, results = run_dbt(settings, ["test", "--select", "test_type:unit"], tmp_path / "dbt")
    assert code == 0, output[-3000:]
    statuses = [r["status"] for r in results["results"]]
    assert len(statuses) >= 11 and set(statuses) == {"pass"}


def test_a_recomputation_test_catches_a_mart_that_disagrees_with_silver(gold: BuiltGold, tmp_path: Path) -> None:
    drifted = tmp_path / "drifted.duckdb"
    shutil.copy(gold.settings.warehouse_path, drifted)
    with duckdb.connect(str(drifted)) as con:
        con.execute("update exam_volume_daily set exam_count = exam_count + 1 where institution = 'h02'")
    settings = Settings(lake=gold.settings.lake, warehouse=str(drifted))
    select = ["test", "--select", "assert_exam_volume_daily_matches_silver assert_standard_coverage_matches_silver"]
    code, _, results = run_dbt(settings, select, tmp_path / "dbt")
    verdicts = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
    assert code != 0
    assert verdicts == {
        "assert_exam_volume_daily_matches_silver": "fail",
        "assert_standard_coverage_matches_silver": "pass",
    }


def test_no_model_is_built_without_a_usable_key(gold: BuiltGold, tmp_path: Path) -> None:
    # One refused value is enough here: test_pseudonym.py covers each reason; this shows dbt stops on it.
    key = "change-me"
    settings = Settings(lake=gold.settings.lake, warehouse=str(tmp_path / "analysts.duckdb"))
    code, output, results = run_dbt(
        settings, ["run", "--select", "stg_silver__exams+"], tmp_path / "dbt", RADLAKE_PSEUDONYM_KEY=key
    )
    assert code != 0
    assert "RADLAKE_PSEUDONYM_KEY" in output
    assert not any(r["status"] == "success" for r in results.get("results", []))
    if Path(settings.warehouse_path).exists():
        with duckdb.connect(settings.warehouse_path, read_only=True) as con:
            assert con.execute("select count(*) from duckdb_tables()").fetchone() == (0,)
