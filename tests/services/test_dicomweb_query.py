"""QIDO-RS query parsing (pure): ranges, lists, wildcards, includefield, and the 400s, values worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from services.dicomweb.query import like_pattern, parse_query
from services.errors import ServiceError


def _one(name: str, value: str, level: str = "instance") -> tuple[str, tuple]:
    query = parse_query([(name, value)], level, default_limit=10, max_limit=100)  # type: ignore[arg-type]
    (cond,) = query.conditions
    return cond.op, cond.values


def test_ranges_lists_and_wildcards() -> None:
    assert _one("StudyDate", "20261101-20261107") == ("range", (date(2026, 11, 1), date(2026, 11, 7)))
    assert _one("StudyDate", "-20261107") == ("range", (None, date(2026, 11, 7)))
    assert _one("StudyDate", "20261101") == ("range", (date(2026, 11, 1), date(2026, 11, 1)))
    # Times: a bound covers every second it names (HH -> HH0000..HH5959).
    assert _one("StudyTime", "08-0930") == ("range", ("080000", "093059"))
    assert _one("StudyTime", "101500.25") == ("range", ("101500", "101500"))
    assert _one("0020000D", "1.2.3\\1.2.4,1.2.5") == ("in", ("1.2.3", "1.2.4", "1.2.5"))
    assert _one("ModalitiesInStudy", "CT\\MR") == ("in", ("CT", "MR"))
    assert _one("PatientName", "zhang*") == ("like", ("zhang*",))
    assert _one("RequestAttributesSequence.ScheduledProcedureStepID", "SPS1") == ("in", ("SPS1",))
    assert like_pattern("50%_a*b?c\\") == "50\\%\\_a%b_c\\\\"


def test_includefield_limit_offset() -> None:
    query = parse_query(
        [("includefield", "00081030,PatientAge"), ("includefield", "all"), ("limit", "7"), ("offset", "3"),
         ("PatientID", "")],
        "study", default_limit=10, max_limit=100,
    )  # fmt: skip
    assert query.return_paths == ["00081030", "00101010", "00100020"] and query.include_all
    assert (query.limit, query.offset, query.conditions) == (7, 3, [])


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("StudyTime", "2460", "not a time"),
        ("StudyDate", "20260230", "not a date"),
        ("SeriesInstanceUID", "1.2.3", "not a matching key of study searches"),
        ("limit", "101", "from 0 to 100"),
        ("PatientID", "a\\b", "single value"),
        ("includefield", "0009xxxx", "unknown attribute"),
    ],
)
def test_refusals_name_the_parameter(name: str, value: str, reason: str) -> None:
    with pytest.raises(ServiceError, match=reason) as caught:
        parse_query([(name, value)], "study", default_limit=10, max_limit=100)
    assert caught.value.status == 400
