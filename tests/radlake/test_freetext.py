"""Identifiers in free text: each kind replaced by its marker, and real exam names left as they are."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from radlake.freetext import scrub

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "exam_names"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # the clerk's exam name of issue 32
            "CT头颅平扫 患者张三 身份证110101199003071234 电话13812345678",
            "CT头颅平扫 患者[NAME] 身份证[ID] 电话[PHONE]",
        ),
        ("MR颅脑 身份证11010119900307123X", "MR颅脑 身份证[ID]"),
        ("胸片 110101900307123", "胸片 [ID]"),  # the old 15-digit card
        ("DR 姓名：王芳电话139 1234 5678", "DR 姓名：[NAME]电话[PHONE]"),
        ("CT +86 139-1234-5678", "CT [PHONE]"),
        ("US 0571-87654321", "US [PHONE]"),
        ("住院号:A123456 头颅CT", "住院号:[MRN] 头颅CT"),
        ("CT胸部 M8800001", "CT胸部 [MRN]"),
        ("CT胸部 ID 880000001", "CT胸部 ID [MRN]"),
        ("CT 张伟先生", "CT [NAME]先生"),
        ("ZHANG^WEI CT", "[NAME] CT"),
        ("Patient: John Smith CT", "Patient: [NAME] CT"),
    ],
)
def test_each_kind_of_identifier_becomes_its_marker(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_no_identifier_shape_survives() -> None:
    shapes = re.compile(r"\d{15}|\d{17}[\dXx]|1[3-9]\d{9}|张三")
    text = "患者张三 身份证110101199003071234 电话13812345678 13812345678 110101199003071234"
    assert not shapes.search(scrub(text) or "")
    assert scrub(None) is None


def test_real_exam_names_are_left_as_they_are() -> None:
    """The 1,055 hand-written held-out exam names (three styles of hospital): none holds an identifier."""
    names = []
    for path in sorted(HELD_OUT.glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            names += [row["raw_name"] for row in csv.DictReader(fh)]
    assert len(names) > 1000
    assert [n for n in names if scrub(n) != n] == []
