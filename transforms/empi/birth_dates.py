"""The birth-date rule of the EMPI, defined once: when two birth dates can be one person's date typed twice.

Two dates agree when they are equal, when day and month are swapped (``1980-03-04`` / ``1980-04-03``), or when
only one of year, month and day differs (a single typo: ``1980-03-04`` / ``1981-03-04``). An unknown date
agrees with anything. The rule is the data :data:`SAME_PERSON`; its three forms are derived from it:

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
    return unknown | agree


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
    return " or ".join(alternatives)
