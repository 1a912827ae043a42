"""The analysts' file with the default minimum cell size (5) and a clerk's identifiers in free text.

The tiny lake plus a few exams whose raw names carry a resident ID, a phone and a name (as a careless clerk
types them): built by dbt with privacy.min_cell at its default, the analysts' file shows no cell of fewer than
five exams with its department, modality or item, no time of day of a small device-day, no timestamp at all,
and none of the identifiers; the dbt build's own recomputations from silver still hold.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from radlake.warehouse import DBT_PROJECT_DIR
from tests.gold.dbt_cli import BuiltGold
from tests.gold.phi_scan import find_identifier_shapes, find_personal_data, personal_values
from tests.gold.small_cells_lake import IDENTIFIERS
from tests.gold.tiny_lake import EXAMS

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def built(small_cells_build) -> BuiltGold:
    """The small-cells lake's ``dbt build`` (tests/gold/conftest.py: started beside the shared tiny lake's)."""
    settings, work, run = small_cells_build
    code, output, results = run.result()
    return BuiltGold(settings=settings, work=work, returncode=code, output=output, results=results)


def _rows(built: BuiltGold, sql: str) -> list[tuple]:
    with duckdb.connect(built.settings.warehouse_path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_build_and_its_recomputations_pass(built: BuiltGold) -> None:
    assert built.returncode == 0, built.output[-3000:]
    failed = [r["unique_id"] for r in built.results.get("results", []) if r["status"] not in ("success", "pass")]
    assert failed == []


def test_no_small_cell_keeps_its_attributes(built: BuiltGold) -> None:
    small = _rows(
        built,
        "select exam_count, ordering_department, modality, standard_code, folded from exam_volume_by_item_daily "
        "where exam_count < 5 and not folded",
    )
    assert small == []
    # The eight unmatched CTs of 6 March are one cell of 8; everything else of the tiny lake is folded.
    assert _rows(
        built,
        "select ordering_department, modality, exam_count from exam_volume_by_item_daily "
        "where exam_date = '2024-03-06' and not folded",
    ) == [("神经内科", "CT", 8)]
    # Folding keeps every exam: exam-items per institution as counted from the fixture's own rows.
    performed = [e for e in EXAMS if e[12] is not None and e[10] != "cancelled"]
    expected_h01 = sum(len(set(e[21])) if e[22] == "matched" and e[21] else 1 for e in performed if e[0] == "h01")
    assert _rows(built, "select sum(exam_count) from exam_volume_by_item_daily where institution = 'h01'") == [
        (expected_h01,)
    ]
    assert _rows(built, "select count(*) from exam_volume_by_item_daily where folded") != [(0,)]


def test_no_time_of_day_below_the_minimum_cell_and_no_timestamp_at_all(built: BuiltGold) -> None:
    rows = _rows(
        built,
        "select exam_count, first_exam_hour, last_exam_hour, span_minutes, below_min_cell "
        "from device_utilisation_daily order by exam_count desc",
    )
    assert rows[0] == (8, 9, 16, 440.0, False)  # H02CT09 on 6 March: eight exams from 09:00 to 16:20
    assert all(r[1:4] == (None, None, None) and r[4] for r in rows[1:]), rows
    columns = _rows(
        built,
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'main' and (data_type like 'TIMESTAMP%' or data_type like 'TIME%')",
    )
    for table, column in columns:  # only hours: no minute or second of any exam's event
        exact = _rows(
            built,
            f'select count(*) from "{table}" where "{column}" is not null '
            f'and (minute("{column}") <> 0 or second("{column}") <> 0)',
        )
        assert exact == [(0,)], f"{table}.{column} shows exact times"


def test_free_text_carries_no_identifiers(built: BuiltGold) -> None:
    warehouse = built.settings.warehouse_path
    assert find_identifier_shapes(warehouse) == []
    assert find_personal_data(warehouse, personal_values(built.settings) | set(IDENTIFIERS)) == []
    names = {
        r[0]: r[1:]
        for r in _rows(
            built,
            "select raw_name, exams, names from exam_name_open_names "
            "where institution = 'h02' and status = 'unmatched'",
        )
    }
    assert names == {
        "CT头颅平扫 患者[NAME] 身份证[ID] 电话[PHONE]": (6, 1),
        "[fewer than 5 exams each]": (3, 3),  # the two small hostile names and the tiny lake's 子宫附件彩超XYZ
    }


def test_the_stewards_file_keeps_to_its_own_folder(built: BuiltGold) -> None:
    stewards = Path(built.settings.stewards_warehouse_path)
    assert stewards.is_file() and stewards.parent != Path(built.settings.warehouse_path).parent
    assert stewards.parent.stat().st_mode & 0o077 == 0, "the stewards' folder is its owner's only"


# Each analysts' mart that counts exams or studies: its count column, and the rows its schema.yml documents as the
# coarsest bucket of its rule (shown whatever their size: a day's or month's rest at an institution, without the
# attribute that would single its exams out; or a device-day shown without any time of day).
COUNTED = {
    "exam_volume_daily": ("exam_count", "folded"),
    "exam_volume_by_item_daily": ("exam_count", "folded"),
    "report_timeliness_daily": ("exams", "folded"),
    "report_turnaround": ("performed_exams", "folded"),
    "advanced_exam_share": ("performed_exams", "folded"),
    "department_capability": ("performed_exams", "folded"),
    "data_assets_monthly": ("studies", "folded"),
    "device_utilisation_daily": ("exam_count", "below_min_cell and first_exam_hour is null and span_minutes is null"),
    "exam_name_open_names": ("exams", "raw_name = '[fewer than 5 exams each]'"),
    "ai_turnaround_daily": ("studies", "folded"),
}
# Marts with counts that are no cells of exams (docs/SECURITY.md, "Small cells"): per-exam rows by design,
# header and link quality per institution and day.
NOT_CELLS = {
    "exam_standard_items",
    "report_timeliness",
    "acquisition_rule_violations",
    "standard_coverage",
    "link_quality_summary",
    "dicom_header_completeness",
}


def _silver(built: BuiltGold, table: str) -> pd.DataFrame:
    return pq.read_table(DeltaTable(f"{built.settings.lake}/{table}").file_uris()).to_pandas()


def test_no_count_under_the_minimum_cell_but_the_documented_buckets(built: BuiltGold) -> None:
    counted = _rows(
        built,
        "select distinct table_name from information_schema.columns where table_schema = 'main' and column_name in "
        "('exam_count', 'exams', 'performed_exams', 'studies', 'instances')",
    )
    assert {t for (t,) in counted} <= COUNTED.keys() | NOT_CELLS, "a mart with counts the test does not know"
    for mart, (count, bucket) in COUNTED.items():
        small = _rows(built, f"select * from {mart} where {count} > 0 and {count} < 5 and not ({bucket})")
        assert small == [], f"{mart} shows cells under the minimum: {small[:3]}"
    for mart in ("exam_volume_daily", "report_timeliness_daily", "report_turnaround", "advanced_exam_share",
                 "department_capability", "data_assets_monthly"):  # fmt: skip
        assert _rows(built, f"select count(*) > 0 from {mart} where folded") == [(True,)], mart


def test_folding_keeps_the_totals(built: BuiltGold) -> None:
    exams = _silver(built, "silver/exams")
    done = exams[exams["exam_started_at"].notna() & (exams["status"] != "cancelled")]

    def per(frame: pd.DataFrame, *keys: str) -> dict:
        return {k if len(keys) > 1 else (k,): int(n) for k, n in frame.groupby(list(keys)).size().items()}

    def mart(sql: str) -> dict:
        return {tuple(str(v) for v in r[:-1]): int(r[-1]) for r in _rows(built, sql)}

    by_day = per(done.assign(d=done["exam_date"].astype(str)), "institution", "d")
    assert mart("select institution, exam_date, sum(exam_count) from exam_volume_daily group by all") == by_day
    by_institution = per(done, "institution")
    assert mart("select institution, sum(performed_exams) from report_turnaround group by all") == by_institution
    assert mart("select institution, sum(performed_exams) from advanced_exam_share group by all") == by_institution
    with_department = done[done["ordering_department"].notna()]
    assert mart("select institution, sum(performed_exams) from department_capability group by all") == per(
        with_department, "institution"
    )
    with (DBT_PROJECT_DIR / "seeds" / "report_deadlines.csv").open(encoding="utf-8") as fh:
        deadlines = {(r["institution"], r["priority"]) for r in csv.DictReader(fh)}
    ended = done[done["exam_ended_at"].notna()]
    has_deadline = ended.apply(
        lambda r: ("*", r.priority) in deadlines or (r.institution, r.priority) in deadlines, axis=1
    )
    assert mart("select institution, sum(exams) from report_timeliness_daily group by all") == per(
        ended[has_deadline], "institution"
    )
    studies = _silver(built, "bronze/dicom_instances")["study_instance_uid"].dropna().nunique()
    assert _rows(built, "select sum(studies) from data_assets_monthly") == [(studies,)]
