"""Batch standardisation of a CSV of raw names without Spark: distinct names, two processes, one row out per row in."""

from __future__ import annotations

import csv
import multiprocessing
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from radlake.csvfiles import write_rows
from radlake.errors import DataError
from radlake.exam_standard import load_standard
from transforms.exam_names.decisions import Decision
from transforms.exam_names.engine import ExamNameEngine

OUTPUT_COLUMNS = ("raw_name", "codes", "standard_names", "status", "confidence", "unrecognised")
# Below this many distinct names one process is faster than starting workers.
PARALLEL_FROM = 20_000
_CHUNK = 2_000

# (codes, standard names, status, confidence, parts not understood) per name, as sent back by a worker.
_Row = tuple[str, str, str, float, str]
_worker_engine: ExamNameEngine | None = None


@dataclass(frozen=True)
class BatchReport:
    """What a batch run did."""

    rows: int
    distinct: int
    statuses: dict[str, int]
    workers: int


def _init_worker(version: str | None, decisions: tuple[Decision, ...]) -> None:
    global _worker_engine
    _worker_engine = ExamNameEngine(load_standard(version), decisions)


def _map_chunk(chunk: list[tuple[str | None, str]]) -> list[_Row]:
    assert _worker_engine is not None
    return [_row(_worker_engine, inst, raw) for inst, raw in chunk]


def _row(engine: ExamNameEngine, institution: str | None, raw: str) -> _Row:
    m = engine.map(raw, institution)
    return ("|".join(m.codes), "|".join(m.standard_names), m.status, m.confidence, "|".join(m.unrecognised))


def read_names(
    path: str | Path, column: str = "raw_name", institution: str | None = None
) -> list[tuple[str | None, str]]:
    """Read (institution, raw_name) per row of a CSV.

    The institution is ``institution`` when given, else the row's ``institution`` column if the file has one.

    Raises
    ------
    DataError
        The file is missing, is not UTF-8, or lacks the column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if column not in fields:
                have = ", ".join(fields) or "no header"
                raise DataError(f"{path}: no column {column!r} (columns: {have}); choose one with --column")
            per_row = institution is None and "institution" in fields
            return [((row.get("institution") or None) if per_row else institution, row[column] or "") for row in reader]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def map_names(
    names: Sequence[tuple[str | None, str]],
    *,
    standard_version: str | None = None,
    decisions: Sequence[Decision] = (),
    workers: int | None = None,
) -> tuple[list[_Row], int]:
    """Map names (institution, raw_name) in order; each distinct pair is mapped once.

    Returns
    -------
    tuple
        One (codes, standard_names, status, confidence, unrecognised) per input pair ('|' between several
        codes, names and parts not understood), and the number of processes used.
    """
    distinct = list(dict.fromkeys(names))
    workers = workers or min(2, os.cpu_count() or 1)
    decisions = tuple(decisions)
    if workers <= 1 or len(distinct) < PARALLEL_FROM:
        engine = ExamNameEngine(load_standard(standard_version), decisions)
        mapped = [_row(engine, inst, raw) for inst, raw in distinct]
        workers = 1
    else:
        chunks = [distinct[i : i + _CHUNK] for i in range(0, len(distinct), _CHUNK)]
        # fork: the workers inherit the loaded modules; each builds its engine once.
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(standard_version, decisions)) as pool:
            mapped = [row for part in pool.imap(_map_chunk, chunks) for row in part]
    by_name = dict(zip(distinct, mapped, strict=True))
    return [by_name[n] for n in names], workers


def standardize_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    column: str = "raw_name",
    institution: str | None = None,
    decisions: Sequence[Decision] = (),
    standard_version: str | None = None,
    workers: int | None = None,
) -> BatchReport:
    """Standardise every row of a CSV into another CSV.

    Parameters
    ----------
    input_path, output_path
        UTF-8 CSV files; the output has :data:`OUTPUT_COLUMNS`, one row per input row, the raw name exactly
        as given, codes and standard names '|'-joined in the order named.
    column
        The input column holding raw names.
    institution
        Institution of every row (else the input's ``institution`` column, if any).
    decisions
        Steward decisions to apply.

    Raises
    ------
    DataError
        The input cannot be read (see :func:`read_names`).
    """
    names = read_names(input_path, column, institution)
    rows, used = map_names(names, standard_version=standard_version, decisions=decisions, workers=workers)
    write_rows(
        output_path,
        OUTPUT_COLUMNS,
        (
            (raw, codes, std_names, status, f"{confidence:.4f}", unknown)
            for (_, raw), (codes, std_names, status, confidence, unknown) in zip(names, rows, strict=True)
        ),
    )
    return BatchReport(
        rows=len(names), distinct=len(set(names)), statuses=dict(Counter(r[2] for r in rows)), workers=used
    )
