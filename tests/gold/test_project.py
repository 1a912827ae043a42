"""Every mart is documented (grain, columns) and tested: data tests, a recomputation from the lake, unit tests."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from tests.gold.dbt_cli import BuiltGold, manifest

pytestmark = [pytest.mark.slow]

# Marts with logic beyond a filter or a count: each has dbt unit tests (given rows → expected rows).
UNIT_TESTED = {
    "exam_standard_items",
    "exam_volume_by_item_daily",
    "advanced_exam_share",
    "standard_coverage",
    "report_turnaround",
    "device_utilisation_daily",
    "department_capability",
    "dicom_header_completeness",
    "acquisition_rule_violations",
    "report_timeliness",
    "link_quality_patient_candidates",
}


def _nodes(m: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in m["nodes"].items() if v["resource_type"] == kind and v["package_name"] == "radlake"}


def test_every_model_has_grain_and_documented_columns(gold: BuiltGold) -> None:
    m = manifest(gold.work)
    models = _nodes(m, "model")
    assert models
    with duckdb.connect(gold.settings.warehouse_path, read_only=True) as con:
        con.execute(f"attach '{gold.settings.stewards_warehouse_path}' as stewards (read_only)")
        for node in models.values():
            assert "Grain:" in node["description"], node["name"]
            if node["config"]["materialized"] != "table":
                continue
            built = {r[0] for r in con.execute(f'describe "{node["database"]}"."{node["name"]}"').fetchall()}
            documented = {c for c, spec in node["columns"].items() if spec["description"]}
            assert built <= documented, (node["name"], sorted(built - documented))


def test_every_mart_has_data_tests_and_a_recomputation_from_the_lake(gold: BuiltGold) -> None:
    m = manifest(gold.work)
    tests = _nodes(m, "test")
    marts = [n for n in _nodes(m, "model").values() if n["config"]["materialized"] == "table"]
    for mart in marts:
        uid = mart["unique_id"]
        generic = [t for t in tests.values() if uid in t["depends_on"]["nodes"] and t.get("test_metadata")]
        kinds = {t["test_metadata"]["name"] for t in generic}
        assert generic and kinds & {"not_null", "unique", "unique_combination"}, mart["name"]
        recomputed = [
            t
            for t in tests.values()
            if not t.get("test_metadata")
            and uid in t["depends_on"]["nodes"]
            and any(d.startswith("source.radlake.") for d in t["depends_on"]["nodes"])
        ]
        assert recomputed, f"{mart['name']}: no singular test recomputes a figure from the lake"
    all_kinds = {t["test_metadata"]["name"] for t in tests.values() if t.get("test_metadata")}
    assert {"unique", "not_null", "relationships", "accepted_values"} <= all_kinds


def test_non_trivial_marts_have_unit_tests(gold: BuiltGold) -> None:
    m = manifest(gold.work)
    covered = {u["model"] for u in m.get("unit_tests", {}).values()}
    assert covered >= UNIT_TESTED
