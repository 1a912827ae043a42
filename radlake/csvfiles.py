"""CSV files a person opens in a spreadsheet: one writer that escapes every formula trigger, and its reader.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a line break runs as a formula in Excel, WPS and
LibreOffice (OWASP "CSV injection"). Names come from clerks and source systems, so every text cell radlake
writes for a person goes through :func:`safe_cell`: such a cell gets a leading ``'`` (shown as text, never
run). The check is made on the NFKC form, because spreadsheets and radlake's own normalisation turn a
full-width ``＝`` into ``=``, and after leading spaces. A cell that itself starts with ``'`` gets one more, so
:func:`unescape_cell` gives back exactly what was written when a steward's filled-in file is imported.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
"""First characters (after NFKC and leading spaces) that make a spreadsheet read a cell as a formula."""

_QUOTE = "'"


def _needs_quote(text: str) -> bool:
    if not text:
        return False
    if text.startswith(_QUOTE):
        return True
    head = unicodedata.normalize("NFKC", text[:8]).lstrip(" \u00a0")
    return bool(head) and head[0] in FORMULA_TRIGGERS


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it without running it: text that opens as a formula gets a leading ``'``.

    Parameters
    ----------
    value
        A cell; anything that is not text (numbers, None) is returned unchanged.

    Examples
    --------
    >>> safe_cell("=HYPERLINK(1)"), safe_cell("＝1+1"), safe_cell("CT 头颅"), safe_cell(-1.5)
    ("'=HYPERLINK(1)", "'＝1+1", 'CT 头颅', -1.5)
    """
    if isinstance(value, str) and _needs_quote(value):
        return _QUOTE + value
    return value


def unescape_cell(value: Any) -> Any:
    """Undo :func:`safe_cell` on a cell read back from a file radlake wrote (other text is left as it is)."""
    if isinstance(value, str) and value.startswith(_QUOTE) and _needs_quote(value[1:]):
        return value[1:]
    return value


def write_rows(path: str | Path, columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> int:
    """Write a UTF-8 CSV with a header row, every text cell through :func:`safe_cell`; returns the row count.

    Rows are sequences in ``columns`` order or mappings (missing keys become empty cells).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([safe_cell(c) for c in columns])
        for row in rows:
            cells = [row.get(c, "") for c in columns] if isinstance(row, Mapping) else list(row)
            writer.writerow([safe_cell(c) for c in cells])
            n += 1
    return n


def write_frame(path: str | Path, frame: pd.DataFrame, *, float_format: str | None = None, append: bool = False) -> int:
    """Write a DataFrame as a UTF-8 CSV (no index), every text cell through :func:`safe_cell`; returns rows.

    ``append``: add the rows to the file without a header (a large table written batch by batch).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("string"):
            out[column] = out[column].map(safe_cell)
    out.columns = [safe_cell(str(c)) for c in out.columns]
    out.to_csv(path, index=False, encoding="utf-8", float_format=float_format, mode="a" if append else "w",
               header=not append)  # fmt: skip
    return len(out)


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame read from a CSV radlake wrote, with :func:`unescape_cell` applied to every text cell."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(unescape_cell)
    return out


def unescape_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A :class:`csv.DictReader` row with :func:`unescape_cell` applied to every cell."""
    return {k: unescape_cell(v) for k, v in row.items()}
