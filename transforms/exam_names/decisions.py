"""Steward decisions: confirmed mappings that always win, and the review queue that asks for them."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from radlake.csvfiles import unescape_row, write_rows
from radlake.errors import DataError
from radlake.exam_standard import ExamStandard

ANY_INSTITUTION = "*"
QUEUE_COLUMNS = (
    "institution",
    "raw_name",
    "status",
    "confidence",
    "suggested_codes",
    "suggested_standard_names",
    "reasons",
    "unrecognised",
    "decision_codes",
    "not_exam",
    "steward",
    "note",
)
_TRUE = {"1", "true", "yes", "y", "x", "是"}
_FALSE = {"", "0", "false", "no", "n", "否"}


@dataclass(frozen=True)
class Decision:
    """A steward's word on one raw name of one institution (``*``: of every institution).

    Attributes
    ----------
    codes
        The confirmed codes in the order named; empty when ``not_exam``.
    not_exam
        The name is a billing line, not an exam (rule 12).
    """

    institution: str
    raw_name: str
    codes: tuple[str, ...] = ()
    not_exam: bool = False
    steward: str = ""
    decided_at: datetime | None = None
    note: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.institution, self.raw_name)


def check_decision(decision: Decision, standard: ExamStandard, where: str) -> None:
    """Reject a decision that names no code, or a code the standard does not have.

    Raises
    ------
    DataError
        Naming ``where`` (file and row) and the reason.
    """
    if not decision.raw_name:
        raise DataError(f"{where}: raw_name is empty")
    if decision.not_exam and decision.codes:
        raise DataError(f"{where}: a decision is either codes or not_exam, not both")
    if not decision.not_exam and not decision.codes:
        raise DataError(f"{where}: give decision_codes (14 digits, '|' between several) or not_exam=true")
    for code in decision.codes:
        problems = standard.code_problems(code)
        if problems:
            raise DataError(f"{where}: code {code}: {problems[0]}")


def _split_codes(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.replace(",", "|").replace(";", "|").split("|") if c.strip())


def _flag(text: str, where: str) -> bool:
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DataError(f"{where}: not_exam must be true or false, got {text!r}")


def read_decisions_csv(path: str | Path, standard: ExamStandard) -> list[Decision]:
    """Read a filled-in review queue (or any CSV with institution, raw_name, decision_codes/codes, not_exam).

    Rows with neither codes nor not_exam are skipped (not yet decided).

    Raises
    ------
    DataError
        The file is missing, not UTF-8, lacks a column, or a row holds an invalid decision (file and row named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return _decisions_in(path, standard)
    except UnicodeDecodeError:
        from radlake.textfiles import not_utf8_reason

        raise DataError(not_utf8_reason(path)) from None


def _decisions_in(path: Path, standard: ExamStandard) -> list[Decision]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        code_column = "decision_codes" if "decision_codes" in columns else "codes"
        missing = {"raw_name", code_column} - columns
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        out: list[Decision] = []
        now = datetime.now().astimezone()
        for lineno, cells in enumerate(reader, start=2):
            row = unescape_row(cells)  # the queue was written by write_queue_csv: '=... back to =...
            where = f"{path} row {lineno}"
            codes = _split_codes(row.get(code_column) or "")
            not_exam = _flag(row.get("not_exam") or "", where)
            if not codes and not not_exam:
                continue
            decision = Decision(
                institution=(row.get("institution") or "").strip() or ANY_INSTITUTION,
                raw_name=row["raw_name"],
                codes=codes,
                not_exam=not_exam,
                steward=(row.get("steward") or "").strip(),
                decided_at=now,
                note=(row.get("note") or "").strip(),
            )
            check_decision(decision, standard, where)
            out.append(decision)
    return out


def write_queue_csv(path: str | Path, rows: Iterable[dict[str, object]]) -> int:
    """Write review-queue rows (see :data:`QUEUE_COLUMNS`) to a CSV a steward fills in; returns the row count."""
    return write_rows(path, QUEUE_COLUMNS, rows)


def queue_rows(mappings: Iterable[object]) -> Iterator[dict[str, object]]:
    """Review-queue rows for the mappings a steward should look at (status review or unmatched).

    Accepts :class:`transforms.exam_names.engine.NameMapping` objects or dicts with the same fields (plus
    ``institution``); most doubtful first is left to the caller.
    """
    for m in mappings:
        get = m.get if isinstance(m, dict) else lambda k, _m=m: getattr(_m, k, None)  # type: ignore[union-attr]
        if get("status") not in ("review", "unmatched") or get("mapped_by") == "steward":
            continue
        yield {
            "institution": get("institution") or "",
            "raw_name": get("raw_name"),
            "status": get("status"),
            "confidence": get("confidence"),
            "suggested_codes": "|".join(get("codes") or ()),
            "suggested_standard_names": "|".join(get("standard_names") or ()),
            "reasons": "; ".join(get("reasons") or ()),
            # The part of the name the engine did not understand: what the steward must look at first.
            "unrecognised": "|".join(get("unrecognised") or ()),
            "decision_codes": "",
            "not_exam": "",
            "steward": "",
            "note": "",
        }
