"""The semantic layer in the dbt project: every definition names real columns and runs on the marts."""

from __future__ import annotations

import duckdb
import yaml

from radlake import semantic
from tests.gold.dbt_cli import BuiltGold

FAMILIES = {
    "exam_volume_daily": "exams",
    "advanced_exam_share": "advanced_share",
    "report_timeliness_daily": "on_time_share",
    "report_timeliness": "turnaround_p90_min",
    "device_utilisation_daily": "busy_share",
    "standard_coverage": "coverage_share",
}


def test_the_issues_measures_are_defined_on_documented_columns() -> None:
    models = semantic.models()
    for mart, name in FAMILIES.items():
        sem = models[mart]
        assert name in sem.measures or name in sem.metrics, mart
        doc = yaml.safe_load((semantic.MARTS_DIR / f"{mart}.yml").read_text(encoding="utf-8"))
        columns = {c["name"] for c in doc["models"][0]["columns"]}
        assert set(sem.dimensions) <= columns and (sem.time_dimension or sem.dimensions[0]) in columns, mart


def test_every_metric_runs_on_the_marts(gold: BuiltGold) -> None:
    with duckdb.connect(gold.settings.warehouse_path, read_only=True) as con:
        for mart, sem in semantic.models().items():
            for name in [*sem.measures, *sem.metrics]:
                con.execute(f"select {semantic.metric_sql(mart, name)} from {mart}").fetchall()
        # Hand-worked from the tiny lake (tests/gold/tiny_lake.py): of h01's four performed exams A2 (CT
        # contrast), A3 (MR functional) and A6 (CTA) are advanced; B2 (HRCT) of h02's three is not.
        share = con.execute(
            f"select institution, {semantic.metric_sql('advanced_exam_share', 'advanced_share')} "
            "from advanced_exam_share group by 1 order by 1"
        ).fetchall()
    assert share == [("h01", 0.75), ("h02", 0.0)]
