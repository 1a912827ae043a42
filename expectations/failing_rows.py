"""Samples of the rows that broke an expectation, written as CSV for the stewards' summary page to link to."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expectations.privacy import PERSONAL_COLUMNS
from radlake.config import Settings
from radlake.csvfiles import write_frame

if TYPE_CHECKING:
    import pandas as pd

    from expectations.results import SuiteResult
    from expectations.suites import Suite

SAMPLE_ROWS = 200


@dataclass(frozen=True)
class FailingSample:
    """One CSV of failing rows: which expectation, on which column, how many rows in all."""

    expectation: str
    column: str | None
    rows: int
    path: Path


def failing_dir(settings: Settings, suite_name: str) -> Path:
    """Where a suite's latest failing-row samples live."""
    return settings.quality_dir / "failing_rows" / suite_name


def expectation_key(expectation: Any) -> tuple[str, str | None]:
    """(type, column label) of a GX expectation, as :class:`expectations.runner.ExpectationOutcome` names it."""
    cfg = expectation.configuration
    kwargs = cfg.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list", []) or []) or None
    return cfg.type, column


def failing_mask(df: pd.DataFrame, expectation: Any) -> pd.Series | None:
    """Rows of ``df`` that break ``expectation`` (``mostly`` ignored), or None for table-level expectations.

    Parameters
    ----------
    df
        The batch the expectation was run on.
    expectation
        A GX expectation (column map, uniqueness, pair or length/format kinds are understood).
    """
    import pandas as pd

    kind, _ = expectation_key(expectation)
    kw = expectation.configuration.kwargs
    scope = pd.Series(True, index=df.index)
    condition = kw.get("row_condition")
    if isinstance(condition, dict):  # GX 1.x keeps a pandas condition as a pass-through filter
        condition = condition.get("pass_through_filter")
    if condition:
        scope = df.index.isin(df.query(condition, engine="python").index)
        scope = pd.Series(scope, index=df.index)
    mask: pd.Series
    if kind == "expect_compound_columns_to_be_unique":
        return df.duplicated(list(kw["column_list"]), keep=False) & scope
    if kind == "expect_column_pair_values_to_be_equal":
        return (df[kw["column_A"]] != df[kw["column_B"]]).fillna(False).astype(bool) & scope
    col = kw.get("column")
    if col not in df.columns:
        return None
    values = df[col]
    present = values.notna()
    if kind == "expect_column_values_to_not_be_null":
        mask = ~present
    elif kind == "expect_column_values_to_be_null":
        mask = present
    elif kind == "expect_column_values_to_be_in_set":
        mask = present & ~values.isin(list(kw["value_set"]))
    elif kind == "expect_column_values_to_not_be_in_set":
        mask = values.isin(list(kw["value_set"]))
    elif kind == "expect_column_values_to_match_regex":
        pattern = re.compile(kw["regex"])
        mask = present & ~values.map(lambda v: bool(pattern.search(str(v))) if v is not None else True)
    elif kind == "expect_column_values_to_be_unique":
        mask = present & values.duplicated(keep=False)
    elif kind == "expect_column_values_to_be_between":
        low, high = kw.get("min_value"), kw.get("max_value")
        numbers = pd.to_numeric(values, errors="coerce")
        mask = present & (
            (numbers < low if low is not None else False) | (numbers > high if high is not None else False)
        )
    elif kind == "expect_column_value_lengths_to_be_between":
        lengths = values.map(lambda v: len(str(v)) if v is not None else 0)
        low, high = kw.get("min_value"), kw.get("max_value")
        mask = present & (
            (lengths < low if low is not None else False) | (lengths > high if high is not None else False)
        )
    elif kind == "expect_column_values_to_match_strftime_format":
        fmt = kw["strftime_format"]
        mask = present & ~values.map(lambda v: _parses(str(v), fmt))
    else:
        return None
    return mask.fillna(False).astype(bool) & scope


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _cell(value: Any) -> Any:
    """Lists and arrays as one text cell (``|``-joined)."""
    if hasattr(value, "__len__") and not isinstance(value, str):
        return "|".join(map(str, value))
    return value


def _printable(df: pd.DataFrame) -> pd.DataFrame:
    """Drop personal columns; lists and arrays become text (the CSV writer quotes formulas)."""
    out = df[[c for c in df.columns if c not in PERSONAL_COLUMNS]].copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(_cell)
    return out


def write_failing_rows(settings: Settings, suite: Suite, df: pd.DataFrame, result: SuiteResult) -> list[FailingSample]:
    """Replace the suite's failing-row samples with those of ``result`` (none when it passed).

    Returns
    -------
    list[FailingSample]
        One CSV per failed expectation that names rows (table-level ones have none), at most
        :data:`SAMPLE_ROWS` rows each, personal columns left out.
    """
    folder = failing_dir(settings, suite.name)
    if folder.exists():
        shutil.rmtree(folder)
    failed = {(o.expectation, o.column) for o in result.failed}
    if not failed:
        return []
    samples: list[FailingSample] = []
    for n, expectation in enumerate(suite.build(), start=1):
        key = expectation_key(expectation)
        if key not in failed:
            continue
        mask = failing_mask(df, expectation)
        if mask is None or not mask.any():
            continue
        rows = df[mask]
        folder.mkdir(parents=True, exist_ok=True)
        label = re.sub(r"[^A-Za-z0-9_]+", "_", f"{n:02d}_{key[0].removeprefix('expect_')}_{key[1] or 'table'}")
        path = folder / f"{label}.csv"
        write_frame(path, _printable(rows.head(SAMPLE_ROWS)))
        samples.append(FailingSample(expectation=key[0], column=key[1], rows=int(mask.sum()), path=path))
    if samples:
        index = [
            {"file": s.path.name, "expectation": s.expectation, "column": s.column, "rows": s.rows} for s in samples
        ]
        (folder / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    return samples


def read_samples(settings: Settings, suite_name: str) -> list[dict[str, Any]]:
    """The samples :func:`write_failing_rows` wrote last for a suite (file, expectation, column, rows)."""
    index = failing_dir(settings, suite_name) / "index.json"
    if not index.is_file():
        return []
    return list(json.loads(index.read_text(encoding="utf-8")))
