"""Failing-row samples: the rows each kind of expectation rejects, without personal columns."""

from __future__ import annotations

from pathlib import Path

import great_expectations as gx
import pandas as pd

from expectations.failing_rows import failing_mask, read_samples, write_failing_rows
from expectations.runner import ExpectationOutcome, SuiteResult
from expectations.suites import Suite
from radlake.config import Settings

e = gx.expectations
FRAME = pd.DataFrame(
    {
        "key": ["a", "b", "b", "c", None],
        "status": ["ok", "ok", "bad", "ok", "ok"],
        "n": [1, 5, 3, 9, 2],
        "m": [1, 5, 4, 9, 2],
        "day": ["20240304", "2024.03.04", "20240305", "20240306", None],
        "mrn": ["M1", "M2", "M3", "M4", "M5"],
    }
)


def _rows(expectation) -> list[int]:
    mask = failing_mask(FRAME, expectation)
    assert mask is not None
    return list(FRAME.index[mask])


def test_masks_follow_each_kind_of_expectation() -> None:
    assert _rows(e.ExpectColumnValuesToNotBeNull(column="key")) == [4]
    assert _rows(e.ExpectColumnValuesToBeUnique(column="key")) == [1, 2]
    assert _rows(e.ExpectCompoundColumnsToBeUnique(column_list=["key", "status"])) == []
    assert _rows(e.ExpectColumnValuesToBeInSet(column="status", value_set=["ok"])) == [2]
    assert _rows(e.ExpectColumnValuesToNotBeInSet(column="status", value_set=["bad"])) == [2]
    assert _rows(e.ExpectColumnValuesToMatchRegex(column="day", regex=r"^\d{8}$")) == [1]
    assert _rows(e.ExpectColumnValuesToMatchStrftimeFormat(column="day", strftime_format="%Y%m%d")) == [1]
    assert _rows(e.ExpectColumnValuesToBeBetween(column="n", min_value=2, max_value=8)) == [0, 3]
    assert _rows(e.ExpectColumnPairValuesToBeEqual(column_A="n", column_B="m")) == [2]
    assert _rows(e.ExpectColumnValueLengthsToBeBetween(column="day", max_value=8)) == [1]
    condition = e.ExpectColumnValuesToBeBetween(
        column="n", max_value=4, row_condition='status == "ok"', condition_parser="pandas"
    )
    assert _rows(condition) == [1, 3]
    assert failing_mask(FRAME, e.ExpectTableRowCountToBeBetween(min_value=10)) is None


def test_samples_leave_personal_columns_out(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    suite = Suite(
        name="t",
        layer="silver",
        table="silver/t",
        build=lambda: [e.ExpectColumnValuesToBeUnique(column="key"), e.ExpectColumnValuesToNotBeNull(column="n")],
        description="test",
    )
    failed = ExpectationOutcome("expect_column_values_to_be_unique", "key", "critical", False, 2)
    result = SuiteResult("t", "silver", "silver/t", 5, False, True, [failed], "2024-03-04T00:00:00+00:00")
    samples = write_failing_rows(settings, suite, FRAME, result)
    assert [(s.column, s.rows) for s in samples] == [("key", 2)]
    written = pd.read_csv(samples[0].path)
    assert list(written["key"]) == ["b", "b"] and "mrn" not in written.columns
    assert read_samples(settings, "t")[0]["rows"] == 2
    passed = SuiteResult("t", "silver", "silver/t", 5, True, False, [], "2024-03-04T00:00:00+00:00")
    assert write_failing_rows(settings, suite, FRAME, passed) == []
    assert read_samples(settings, "t") == []  # a passing run clears the old samples
