"""The stewards' review queue of exam names: the doubtful names, re-read with today's engine, into a CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radlake.csvfiles import unescape_row
from radlake.errors import DataError
from transforms.exam_names.decisions import Decision, queue_rows, write_queue_csv
from transforms.exam_names.engine import ExamNameEngine

if TYPE_CHECKING:
    from radlake.config import Settings


def _result_rows(path: Path, institution: str | None) -> list[dict[str, Any]]:
    """The rows of a ``radlake standardize`` result CSV, each given ``institution``."""
    from radlake.textfiles import not_utf8_reason

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"raw_name", "status"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(
                    f"{path}: not a `radlake standardize` result: missing column(s) {', '.join(sorted(missing))}"
                )
            return [dict(unescape_row(r), institution=institution) for r in reader]
    except UnicodeDecodeError:
        raise DataError(not_utf8_reason(path)) from None


def export_review_queue(
    output: Path,
    *,
    settings: Settings | None = None,
    from_result: Path | None = None,
    institution: str | None = None,
) -> int:
    """Write the names a steward should decide (status review or unmatched, not yet decided), most doubtful first.

    Parameters
    ----------
    output
        The queue CSV to write.
    settings
        The lake whose ``silver/exam_name_map`` (and stored decisions) to read; not used with ``from_result``.
    from_result, institution
        A batch result CSV to take the names from instead, and the institution of its names.

    Returns
    -------
    int
        The names written.

    Raises
    ------
    radlake.errors.DataError
        If ``from_result`` is missing, not UTF-8 or not a ``radlake standardize`` result.
    """
    decided: list[Decision] = []
    if from_result is not None:
        source = _result_rows(from_result, institution)
    else:
        from transforms.exam_names.store import read_decisions, read_name_map

        if settings is None:
            raise ValueError("export_review_queue needs settings or from_result")
        source = read_name_map(settings)
        decided = read_decisions(settings)
    # Re-read the doubtful names with today's engine: the steward sees the current guess and its reasons.
    engine = ExamNameEngine(decisions=decided)
    doubtful: set[tuple[str | None, str]] = {
        (str(r.get("institution") or "") or None, str(r["raw_name"] or ""))
        for r in source
        if r.get("status") in ("review", "unmatched") and r.get("mapped_by") != "steward"
    }
    mappings = [engine.map(raw, inst) for inst, raw in sorted(doubtful, key=lambda p: (p[0] or "", p[1]))]
    rows = sorted(queue_rows(mappings), key=lambda r: (float(str(r["confidence"] or 0)), str(r["raw_name"])))
    return write_queue_csv(output, rows)
