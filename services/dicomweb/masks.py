"""The common study and series filters answered from arrays in answer order, with no DuckDB query.

A modality, a date range or both (``/series?Modality=CT&StudyDate=...``) are the most frequent searches across
all studies. At a million instances a DuckDB query for their page costs 2-5 ms (the series-study join, then a
page deep in the order: offset 5,000 among the CT series); here each filtered column is a NumPy array in the
level's answer order (``ord``), so a vectorised comparison gives every matching position (and their count) in
tens of microseconds, and a page is a slice of them. Any other condition leaves the search to DuckDB
(:mod:`services.dicomweb.search`), which answers the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from services.dicomweb.query import Condition

_NULL_DAY = np.iinfo(np.int32).min  # a missing date: below every bound, so no range matches it (as in SQL)
_NO_CODE = -1  # a missing value: equal to no code, so no list matches it (as ``IN`` in SQL)


@dataclass
class Arrays:
    """One level's filterable columns, each in the level's answer order (position = ``ord`` - 1).

    ``codes``: a text column as integer codes and each value's code; ``days``: a date column as day numbers.
    """

    codes: dict[str, tuple[np.ndarray, dict[str, int]]] = field(default_factory=dict)
    days: dict[str, np.ndarray] = field(default_factory=dict)


def arrays(rows: Sequence[dict[str, Any]], texts: Sequence[str], dates: Sequence[str]) -> Arrays:
    """The arrays of ``rows`` (in answer order) for the text columns ``texts`` and date columns ``dates``."""
    out = Arrays()
    for column in texts:
        vocabulary: dict[str, int] = {}
        values = [r[column] for r in rows]
        codes = [_NO_CODE if v is None else vocabulary.setdefault(v, len(vocabulary)) for v in values]
        out.codes[column] = (np.array(codes, dtype=np.int32), vocabulary)
    for column in dates:
        days = [r[column].toordinal() if isinstance(r[column], date) else _NULL_DAY for r in rows]
        out.days[column] = np.array(days, dtype=np.int32)
    return out


def positions(found: Arrays, conditions: Sequence[Condition], total: int) -> np.ndarray | None:
    """The positions (0-based, in answer order) of the rows matching every condition, or None when a condition
    is not one these arrays answer (the search then runs in DuckDB).

    A text column matches a list of values (``IN``: exact, case-sensitive), a date column a range (either end
    open, both inclusive); ``total`` is the level's row count (the answer when there is no condition).
    """
    mask: np.ndarray | None = None
    for cond in conditions:
        column = cond.key.column
        if cond.op == "in" and column in found.codes:
            codes, vocabulary = found.codes[column]
            wanted = [vocabulary[v] for v in dict.fromkeys(cond.values) if isinstance(v, str) and v in vocabulary]
            hit = codes == wanted[0] if len(wanted) == 1 else np.isin(codes, wanted)
        elif cond.op == "range" and column in found.days:
            low, high = cond.values
            day = found.days[column]
            hit = day >= (low.toordinal() if isinstance(low, date) else _NULL_DAY + 1)
            if isinstance(high, date):
                hit &= day <= high.toordinal()
        else:
            return None
        mask = hit if mask is None else mask & hit
    if mask is None:
        return np.arange(total)
    return np.flatnonzero(mask)
