"""Tests of ``radlake standardize``: the batch CSV command and the review loop through the lake."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def names_csv(tmp_path):
    path = tmp_path / "names.csv"
    write_csv(
        path,
        ["id", "name"],
        [
            ("1", "CT头颅平扫"),
            ("2", " 【急】头颅ＣＴ平扫 "),
            ("3", "CT胸部+上腹部平扫"),
            ("4", "胶片费"),
            ("5", "头颅平扫"),
            ("6", "CT头颅平扫"),
            ("7", ""),
        ],
    )
    return path


def test_batch_writes_one_row_per_input_row(tmp_path, names_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no radlake.yaml here: no lake decisions
    out = tmp_path / "out" / "result.csv"
    result = runner.invoke(app, ["standardize", "--input", str(names_csv), "--output", str(out), "--column", "name"])
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert list(rows[0]) == ["raw_name", "codes", "standard_names", "status", "confidence", "unrecognised"]
    assert [r["raw_name"] for r in rows] == [
        "CT头颅平扫",
        " 【急】头颅ＣＴ平扫 ",
        "CT胸部+上腹部平扫",
        "胶片费",
        "头颅平扫",
        "CT头颅平扫",
        "",
    ]
    assert rows[0]["codes"] == rows[1]["codes"] == "20010100010000"
    assert rows[2]["codes"] == "20030100010000|20040100010000"
    assert rows[2]["standard_names"] == "CT胸部（平扫）|CT上腹部（平扫）"
    statuses = ["matched", "matched", "matched", "not_exam", "review", "matched", "unmatched"]
    assert [r["status"] for r in rows] == statuses
    assert float(rows[0]["confidence"]) == 1.0
    assert all(r["unrecognised"] == "" for r in rows)  # every word of these names is known
    assert "7 rows (6 distinct)" in result.output


def test_missing_column_is_a_one_line_error(tmp_path, names_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["standardize", "-i", str(names_csv), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
    assert "no column 'raw_name'" in str(result.exception)


def test_review_loop_through_the_lake(tmp_path, names_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lake = tmp_path / "lake"
    out = tmp_path / "result.csv"
    args = ["--column", "name", "--institution", "h01", "--lake", str(lake)]
    assert runner.invoke(app, ["standardize", "-i", str(names_csv), "-o", str(out), *args]).exit_code == 0
    queue = tmp_path / "queue.csv"
    result = runner.invoke(
        app,
        [
            "standardize",
            "review",
            "export",
            "--output",
            str(queue),
            "--from-result",
            str(out),
            "--institution",
            "h01",
            "--lake",
            str(lake),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(queue)
    assert {r["raw_name"] for r in rows} == {"头颅平扫", ""}
    # The steward says 头颅平扫 is this institution's MR line.
    for r in rows:
        if r["raw_name"] == "头颅平扫":
            r["decision_codes"] = "30010100010000"
            r["steward"] = "dr. test"
    write_csv(queue, list(rows[0]), [list(r.values()) for r in rows])
    result = runner.invoke(app, ["standardize", "review", "import", str(queue), "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    assert (lake / "silver" / "exam_name_decisions" / "_delta_log").is_dir()
    # Every later run applies the stored decision.
    assert runner.invoke(app, ["standardize", "-i", str(names_csv), "-o", str(out), *args]).exit_code == 0
    again = read_csv(out)
    assert (again[4]["codes"], again[4]["status"]) == ("30010100010000", "matched")
    assert again[0]["codes"] == "20010100010000"


def test_bad_decision_file_names_the_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    write_csv(bad, ["institution", "raw_name", "decision_codes", "not_exam"], [("h01", "x", "123", "")])
    result = runner.invoke(app, ["standardize", "review", "import", str(bad), "--lake", str(tmp_path / "lake")])
    assert result.exit_code != 0
    assert "bad.csv row 2" in str(result.exception)


def test_parallel_batch_gives_the_same_rows(tmp_path, monkeypatch):
    from transforms.exam_names.batch import map_names

    monkeypatch.setattr("transforms.exam_names.batch.PARALLEL_FROM", 10)
    names = [("h01", f"CT头颅平扫{i % 50}") for i in range(300)] + [("h02", "胶片费")]
    serial, used_serial = map_names(names, workers=1)
    parallel, used_parallel = map_names(names, workers=2)
    assert (used_serial, used_parallel) == (1, 2)
    assert serial == parallel
