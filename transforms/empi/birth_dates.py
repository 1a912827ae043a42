"""The birth-date rule of the EMPI, defined once: when two birth dates can be one person's date typed twice.

Two dates agree when they are equal, when day and month are swapped (``1980-03-04`` / ``1980-04-03``), or when
only one of year, month and day differs (a single typo: ``1980-03-04`` / ``1981-03-04``; years less than
:data:`GENERATION_YEARS` apart: the same month and day a generation apart are parent and child, or strangers), or
when they are a day apart (born near midnight: ``1980-03-31`` / ``1980-04-01``, ``1979-12-31`` / ``1980-01-01``;
a day apart within a month is already one part differing). An unknown date agrees with anything. The rule is the
data :data:`SAME_PERSON`; its three forms are derived from it:

- :func:`birth_dates_consistent` on two ``datetime.date`` values (the cluster guards);
- :func:`birth_dates_consistent_frame` on year/month/day columns (pandas, the feature step);
- :func:`birth_dates_consistent_sql` as a SQL condition over Splink's ``_l``/``_r`` columns (the model).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = [
    "GENERATION_YEARS",
    "SAME_PERSON",
    "birth_dates_consistent",
    "birth_dates_consistent_frame",
    "birth_dates_consistent_sql",
    "birth_dates_near_sql",
]

GENERATION_YEARS = 15
"""Birth years at least this far apart put two records a generation apart (parent and child): no typo does
that (the ones seen move a year by 1 or 10)."""

Part = str
SAME_PERSON: tuple[tuple[tuple[Part, Part], ...], ...] = (
    (("year", "year"), ("month", "month")),
    (("year", "year"), ("day", "day")),
    (("month", "month"), ("day", "day")),
    (("year", "year"), ("month", "day"), ("day", "month")),
)
"""Alternatives, any of which makes two dates agree; each names the parts (left, right) that must be equal."""


def birth_dates_consistent(a: dt.date | None, b: dt.date | None) -> bool:
    """Whether two birth dates can be one person's date typed twice (see the module docstring).

    Parameters
    ----------
    a, b
        Birth dates, ``None`` when unknown (unknown is consistent with anything).

    Returns
    -------
    bool
    """
    if a is None or b is None:
        return True
    if abs((a - b).days) == 1:
        return True
    if abs(a.year - b.year) >= GENERATION_YEARS:
        return False
    return any(all(getattr(a, left) == getattr(b, right) for left, right in alt) for alt in SAME_PERSON)


def birth_dates_consistent_frame(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """:func:`birth_dates_consistent` row by row over two frames of ``year``, ``month``, ``day`` columns.

    Parameters
    ----------
    a, b
        Frames of equal length with integer (nullable) ``year``, ``month`` and ``day`` columns; a row with
        any part missing is an unknown date.

    Returns
    -------
    numpy.ndarray
        Boolean per row.
    """
    parts = ("year", "month", "day")
    left = {p: a[p].to_numpy(dtype="float64", na_value=np.nan) for p in parts}
    right = {p: b[p].to_numpy(dtype="float64", na_value=np.nan) for p in parts}
    unknown = np.zeros(len(a), dtype=bool)
    for p in parts:
        unknown |= np.isnan(left[p]) | np.isnan(right[p])
    agree = np.zeros(len(a), dtype=bool)
    for alt in SAME_PERSON:
        every = np.ones(len(a), dtype=bool)
        for lp, rp in alt:
            every &= left[lp] == right[rp]
        agree |= every
    with np.errstate(invalid="ignore"):
        agree &= np.abs(left["year"] - right["year"]) < GENERATION_YEARS
    return unknown | agree | _day_apart_frame(left, right)


def _day_apart_frame(left: dict[str, np.ndarray], right: dict[str, np.ndarray]) -> np.ndarray:
    """Dates (parts as float arrays, NaN unknown) exactly one day apart; impossible dates are never."""

    def days(parts: dict[str, np.ndarray]) -> np.ndarray:
        known = ~(np.isnan(parts["year"]) | np.isnan(parts["month"]) | np.isnan(parts["day"]))
        out = np.full(len(known), np.nan)
        y, m, d = (parts[p][known].astype(np.int64) for p in ("year", "month", "day"))
        month = ((y - 1970) * 12 + m - 1).astype("datetime64[M]")
        out[known] = (month.astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64) + d - 1
        return out

    with np.errstate(invalid="ignore"):
        return np.abs(days(left) - days(right)) == 1


def birth_dates_consistent_sql(prefix: str = "birth_") -> str:
    """:func:`birth_dates_consistent` as a SQL condition on Splink's pair columns (``birth_year_l`` ...).

    Null parts make the condition null (not true): the comparison places unknown dates on its null level first.

    Parameters
    ----------
    prefix
        Prefix of the part columns (``birth_`` → ``birth_year_l``, ``birth_month_r``, ...).

    Returns
    -------
    str
        A condition in standard SQL (DuckDB and Spark read it alike).
    """
    alternatives = [
        "(" + " and ".join(f"{prefix}{left}_l = {prefix}{right}_r" for left, right in alt) + ")" for alt in SAME_PERSON
    ]
    within = f"abs({prefix}year_l - {prefix}year_r) < {GENERATION_YEARS}"
    typed_twice = f"({within} and ({' or '.join(alternatives)}))"
    return " or ".join([typed_twice, _next_day_sql(prefix, "l", "r"), _next_day_sql(prefix, "r", "l")])


def birth_dates_near_sql(prefix: str = "birth_") -> str:
    """The two slips that leave a date nearly as telling as an exact one, as SQL over Splink's pair columns: day
    and month swapped (the year equal), or a day apart. Strangers rarely meet either way (about as rarely as on
    the exact date), while a single other part differing (same year and month) is common among strangers.

    Parameters
    ----------
    prefix
        Prefix of the part columns.

    Returns
    -------
    str
        A condition in standard SQL (null when a part is null).
    """
    y, m, d = (f"{prefix}{part}" for part in ("year", "month", "day"))
    swapped = f"({y}_l = {y}_r and {m}_l = {d}_r and {d}_l = {m}_r)"
    same_month = f"({y}_l = {y}_r and {m}_l = {m}_r and abs({d}_l - {d}_r) = 1)"
    return " or ".join([swapped, same_month, _next_day_sql(prefix, "l", "r"), _next_day_sql(prefix, "r", "l")])


def _next_day_sql(prefix: str, a: str, b: str) -> str:
    """``b``'s date is the day after ``a``'s across a month or a year (within a month a typo alternative holds)."""
    y, m, d = (f"{prefix}year_{a}", f"{prefix}month_{a}", f"{prefix}day_{a}")
    y2, m2, d2 = (f"{prefix}year_{b}", f"{prefix}month_{b}", f"{prefix}day_{b}")
    leap = f"(({y} % 4 = 0 and {y} % 100 <> 0) or {y} % 400 = 0)"
    last = (
        f"(case when {m} = 2 then (case when {leap} then 29 else 28 end) when {m} in (4, 6, 9, 11) then 30 else 31 end)"
    )
    following = f"(({y2} = {y} and {m2} = {m} + 1) or ({y2} = {y} + 1 and {m} = 12 and {m2} = 1))"
    return f"({d2} = 1 and {d} = {last} and {following})"
