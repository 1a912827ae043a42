"""The birth-date rule: one table of cases, against which its Python, pandas and SQL forms are all checked."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from transforms.empi.birth_dates import (
    birth_dates_consistent,
    birth_dates_consistent_frame,
    birth_dates_consistent_sql,
    birth_dates_near_sql,
)

D = dt.date
# (a, b, one person's date typed twice?) -- written by hand from the rule's wording, not from the code.
CASES: list[tuple[dt.date | None, dt.date | None, bool]] = [
    (D(1980, 3, 5), D(1980, 3, 5), True),  # equal
    (D(1980, 3, 5), D(1980, 5, 3), True),  # day and month swapped
    (D(1980, 3, 5), D(1990, 3, 5), True),  # a year digit mistyped
    (D(1980, 3, 5), D(1981, 3, 5), True),
    (D(1980, 3, 5), D(1980, 3, 25), True),  # the day mistyped
    (D(1980, 3, 5), D(1980, 11, 5), True),  # the month mistyped
    (D(1980, 3, 5), D(1981, 5, 3), False),  # swapped and another year: two slips
    (D(1980, 3, 5), D(1980, 4, 6), False),  # month and day both wrong
    (D(1949, 1, 18), D(1991, 1, 18), False),  # month and day equal a generation apart: no typo does that
    (D(1980, 3, 5), D(1981, 4, 5), False),  # year and month wrong
    (D(1980, 3, 5), D(2008, 11, 19), False),  # parent and child
    (D(2008, 1, 31), D(2008, 9, 30), False),
    (D(1980, 12, 12), D(1980, 12, 12), True),
    (D(1980, 3, 31), D(1980, 4, 1), True),  # a day apart across a month (born near midnight)
    (D(1979, 12, 31), D(1980, 1, 1), True),  # ... and across a year
    (D(1980, 2, 29), D(1980, 3, 1), True),  # a leap day
    (D(1981, 2, 28), D(1981, 3, 1), True),
    (D(1980, 2, 28), D(1980, 3, 1), False),  # two days apart in a leap year
    (D(1980, 3, 30), D(1980, 4, 1), False),
    (D(1980, 3, 5), None, True),  # unknown agrees with anything
    (None, None, True),
]


@pytest.mark.parametrize(("a", "b", "expected"), CASES)
def test_python_form(a: dt.date | None, b: dt.date | None, expected: bool) -> None:
    assert birth_dates_consistent(a, b) is expected
    assert birth_dates_consistent(b, a) is expected


def _parts(dates: list[dt.date | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {p: pd.array([getattr(d, p) if d else None for d in dates], dtype="Int64") for p in ("year", "month", "day")}
    )


def test_pandas_form_over_the_whole_table() -> None:
    a, b = _parts([c[0] for c in CASES]), _parts([c[1] for c in CASES])
    assert birth_dates_consistent_frame(a, b).tolist() == [c[2] for c in CASES]
    assert birth_dates_consistent_frame(b, a).tolist() == [c[2] for c in CASES]


def test_sql_form_over_the_whole_table_in_duckdb() -> None:
    a, b = _parts([c[0] for c in CASES]), _parts([c[1] for c in CASES])
    pairs = pd.concat([a.add_prefix("birth_").add_suffix("_l"), b.add_prefix("birth_").add_suffix("_r")], axis=1)
    con = duckdb.connect()
    con.register("pairs", pairs)
    # Splink puts pairs with an unknown date on the comparison's null level before this condition is read.
    unknown = "birth_year_l is null or birth_year_r is null"
    sql = f"select coalesce({unknown} or ({birth_dates_consistent_sql()}), false) from pairs"
    got = [row[0] for row in con.execute(sql).fetchall()]
    assert got == [c[2] for c in CASES]


def test_near_dates_in_sql_are_swaps_and_days_apart() -> None:
    """The model's strong level: a swapped date (same year) or a day apart; not any other single slip."""
    cases = [
        (D(1980, 3, 5), D(1980, 5, 3), True),
        (D(1980, 3, 5), D(1980, 3, 6), True),
        (D(1980, 3, 31), D(1980, 4, 1), True),
        (D(1979, 12, 31), D(1980, 1, 1), True),
        (D(1980, 3, 5), D(1980, 3, 25), False),  # another day: a typo, but strangers share year and month often
        (D(1980, 3, 5), D(1981, 5, 3), False),
        (D(1980, 3, 5), D(1981, 3, 5), False),
    ]
    a, b = _parts([c[0] for c in cases]), _parts([c[1] for c in cases])
    pairs = pd.concat([a.add_prefix("birth_").add_suffix("_l"), b.add_prefix("birth_").add_suffix("_r")], axis=1)
    con = duckdb.connect()
    con.register("pairs", pairs)
    got = [row[0] for row in con.execute(f"select coalesce({birth_dates_near_sql()}, false) from pairs").fetchall()]
    assert got == [c[2] for c in cases]
