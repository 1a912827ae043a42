"""A corrupt silver batch fails its blocking check and Dagster does not build the marts; a clean one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from expectations.suites import gold
from orchestration.checks import quality_checks
from orchestration.resources import RadlakeResource
from radlake import catalog, lake
from radlake.config import Settings
from tests.gold.tiny_lake import EXAMS, EXAMS_SCHEMA

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def corrupt(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The same exams with one key delivered twice and a code that is not in the standard."""
    codes = list(rows[0])
    codes[-2] = ["20030100019999"]  # add-on 99 does not exist
    return [tuple(codes), *rows[1:], rows[1]]


def _run(spark, settings: Settings, config: Path, batch: list[tuple[Any, ...]]) -> dg.ExecuteInProcessResult:
    from orchestration.gold.dbt import dbt_gold_assets

    @dg.asset(key=["silver", "exams"], group_name="silver")
    def exams() -> None:
        """The batch under test, landed as silver/exams."""
        uri = catalog.table_uri(settings, catalog.table("silver", "exams"))
        lake.overwrite(spark.createDataFrame(batch, EXAMS_SCHEMA), uri)

    gold, dbt = dbt_gold_assets(settings)
    keys = {dg.AssetKey(["silver", "exams"]), *gold.keys}
    defs = dg.Definitions(
        assets=[exams, gold],
        asset_checks=quality_checks(keys),
        resources={"radlake": RadlakeResource(config_path=str(config)), "dbt": dbt},
    )
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _gold_materialised(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key and e.asset_key.path[0] == "gold"
    }


def test_corrupt_batch_blocks_the_marts(spark, tiny: tuple[Settings, Path]) -> None:
    settings, config = tiny
    result = _run(spark, settings, config, corrupt(EXAMS))
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    check = evaluations["silver_exams"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    failed = {f["expectation"] for f in check.metadata["failed_expectations"].value}  # type: ignore[union-attr]
    assert failed == {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_null"}
    assert _gold_materialised(result) == set()
    assert not any(name.startswith("gold_") for name in evaluations)  # gold checks never ran either


def test_clean_batch_builds_the_marts_and_gold_reconciles(spark, tiny: tuple[Settings, Path]) -> None:
    settings, config = tiny
    result = _run(spark, settings, config, EXAMS)
    assert result.success
    built = _gold_materialised(result)
    assert {"gold/exam_volume_daily", "gold/report_timeliness_breaches", "gold/link_quality_summary"} <= built
    verdicts = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    gold_checks = {k: v for k, v in verdicts.items() if k.startswith("gold_")}
    assert len(gold_checks) == len(gold.SUITES) and all(gold_checks.values()), gold_checks
    assert verdicts["silver_exams"]
    # The accession-links suite warns on the tiny lake's two orphan studies, and does not block.
    assert verdicts["silver_accession_links"] is False
