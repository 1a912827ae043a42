"""Tests of steward decisions read from CSV and of the review queue."""

from __future__ import annotations

import csv

import pytest

from radlake.errors import DataError
from transforms.exam_names.decisions import QUEUE_COLUMNS, queue_rows, read_decisions_csv, write_queue_csv


def write(path, rows, header=("institution", "raw_name", "decision_codes", "not_exam", "steward")):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_read_decisions(tmp_path, standard):
    path = tmp_path / "d.csv"
    write(
        path,
        [
            ("h01", "头颅平扫", "30010100010000", "", "li"),
            ("h01", "胸部+上腹CT", "20030100010000|20040100010000", "", "li"),
            ("", "耗材包", "", "true", "wang"),
            ("h02", "not decided yet", "", "", ""),
        ],
    )
    got = read_decisions_csv(path, standard)
    assert [(d.institution, d.raw_name, d.codes, d.not_exam) for d in got] == [
        ("h01", "头颅平扫", ("30010100010000",), False),
        ("h01", "胸部+上腹CT", ("20030100010000", "20040100010000"), False),
        ("*", "耗材包", (), True),
    ]
    assert got[0].steward == "li" and got[0].decided_at is not None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("h01", "x", "2001010001000", "", ""), "row 2: code 2001010001000"),
        (("h01", "x", "20030000010000", "", ""), "row 2: code 20030000010000: body part 030000"),
        (("h01", "x", "20010100010000", "true", ""), "row 2: a decision is either codes or not_exam"),
        (("h01", "x", "", "maybe", ""), "row 2: not_exam must be true or false"),
    ],
)
def test_bad_decisions_name_file_and_row(tmp_path, standard, row, message):
    path = tmp_path / "d.csv"
    write(path, [row])
    with pytest.raises(DataError, match=message):
        read_decisions_csv(path, standard)


def test_missing_column(tmp_path, standard):
    path = tmp_path / "d.csv"
    write(path, [("h01", "x")], header=("institution", "raw_name"))
    with pytest.raises(DataError, match="missing column"):
        read_decisions_csv(path, standard)


def test_queue_holds_only_doubtful_engine_mappings(engine, tmp_path, standard):
    mappings = [engine.map(n, "h01") for n in ("CT头颅平扫", "头颅平扫", "阴囊彩超", "胶片费")]
    rows = list(queue_rows(mappings))
    assert [r["raw_name"] for r in rows] == ["头颅平扫", "阴囊彩超"]
    assert rows[0]["suggested_codes"] == "20010100010000"
    path = tmp_path / "q.csv"
    assert write_queue_csv(path, rows) == 2
    with path.open(encoding="utf-8") as fh:
        back = list(csv.DictReader(fh))
    assert tuple(back[0]) == QUEUE_COLUMNS
    # A filled-in queue is a decisions file.
    back[0]["decision_codes"] = "30010100010000"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=QUEUE_COLUMNS)
        w.writeheader()
        w.writerows(back)
    (d,) = read_decisions_csv(path, standard)
    assert (d.institution, d.raw_name, d.codes) == ("h01", "头颅平扫", ("30010100010000",))


def test_queue_names_the_part_not_understood(engine, tmp_path):
    # Issue 19 item 3: one item recognised, the other not: review, with the unknown part in its own column.
    m = engine.map("胸部CT平扫+肌电图", "h01")
    assert m.status == "review" and m.codes == ("20030100010000",)
    assert m.unrecognised == ("肌电图",)
    path = tmp_path / "q.csv"
    write_queue_csv(path, queue_rows([m]))
    with path.open(encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["unrecognised"] == "肌电图" and row["suggested_codes"] == "20030100010000"
