"""Spark side of exam-name standardisation: pure DataFrame functions (no session, no reads or writes).

``map_exam_names`` runs the engine over the DISTINCT (institution, raw_name) pairs with ``mapInArrow``: one
engine per Python worker process (built on the first partition it sees, reused after), never one per row.
``apply_exam_codes`` joins the resulting map onto exams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark.sql import functions as F

from radlake import catalog
from transforms.exam_names.decisions import Decision

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from transforms.exam_names.engine import ExamNameEngine

_ARROW_SCHEMA = catalog.table("silver", "exam_name_map").schema
EXAM_NAME_MAP_SCHEMA = catalog.spark_schema(catalog.table("silver", "exam_name_map"))
"""Schema of silver/exam_name_map (the catalog's): one row per (institution, raw_name)."""

EXAM_CODE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("exam_codes", "array<string>"),
    ("exam_standard_names", "array<string>"),
    ("exam_name_status", "string"),
    ("exam_name_confidence", "double"),
    ("exam_standard_version", "string"),
)
"""Columns ``apply_exam_codes`` adds to exams (name, Spark SQL type); null where no mapping exists."""
# The name-map column each of them comes from (a map without one of them gives nulls there).
_MAP_SOURCES = ("codes", "standard_names", "status", "confidence", "standard_version")


@dataclass(frozen=True)
class EngineFactory:
    """Builds an :class:`ExamNameEngine` in a Spark worker: picklable, and cached per worker process.

    Parameters
    ----------
    standard_version
        Version of the exam standard (None: the newest shipped one).
    decisions
        Steward decisions to re-apply (read from silver/exam_name_decisions by the job).
    """

    standard_version: str | None = None
    decisions: tuple[Decision, ...] = ()

    def __call__(self) -> ExamNameEngine:
        from radlake.exam_standard import load_standard
        from transforms.exam_names.engine import ExamNameEngine

        return ExamNameEngine(load_standard(self.standard_version), self.decisions)


# Engines built in this (worker) process, by factory: a factory that compares equal reuses its engine.
_ENGINES: dict[object, ExamNameEngine] = {}


def _engine_for(factory: Callable[[], ExamNameEngine]) -> ExamNameEngine:
    try:
        engine = _ENGINES.get(factory)
    except TypeError:  # an unhashable factory: one engine per partition
        return factory()
    if engine is None:
        engine = _ENGINES[factory] = factory()
    return engine


def _map_batches(batches: Iterator[pa.RecordBatch], factory: Callable[[], ExamNameEngine]) -> Iterator[pa.RecordBatch]:
    engine = _engine_for(factory)
    mapped_at = datetime.now(UTC)
    for batch in batches:
        institutions = batch.column("institution").to_pylist()
        names = batch.column("raw_name").to_pylist()
        rows = [engine.map(raw, inst) for inst, raw in zip(institutions, names, strict=True)]
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(institutions, pa.string()),
                pa.array(names, pa.string()),
                pa.array([list(m.codes) for m in rows], pa.list_(pa.string())),
                pa.array([list(m.standard_names) for m in rows], pa.list_(pa.string())),
                pa.array([m.status for m in rows], pa.string()),
                pa.array([float(m.confidence) for m in rows], pa.float64()),
                pa.array([m.standard_version for m in rows], pa.string()),
                pa.array([m.mapped_by for m in rows], pa.string()),
                pa.array([list(m.unrecognised) for m in rows], pa.list_(pa.string())),
                pa.array([mapped_at] * len(rows), pa.timestamp("us", tz="UTC")),
            ],
            schema=_ARROW_SCHEMA,
        )


def map_exam_names(
    names_df: DataFrame,
    engine_factory: Callable[[], ExamNameEngine],
    *,
    name_column: str = "raw_name",
) -> DataFrame:
    """Map every distinct (institution, raw name) onto the standard.

    Parameters
    ----------
    names_df
        Any DataFrame with ``institution`` and the raw-name column (e.g. the RIS exam orders); duplicates
        and null names are dropped before the engine runs.
    engine_factory
        A picklable callable returning an engine, such as :class:`EngineFactory`. It runs once per worker
        process (once per partition if it is not hashable).
    name_column
        Column holding the raw exam name (``raw_exam_name`` for orders).

    Returns
    -------
    DataFrame
        Rows of :data:`EXAM_NAME_MAP_SCHEMA`, one per distinct (institution, raw_name).
    """
    distinct = (
        names_df.select(
            F.col("institution").cast("string").alias("institution"),
            F.col(name_column).cast("string").alias("raw_name"),
        )
        .where(F.col("raw_name").isNotNull())
        .dropDuplicates(["institution", "raw_name"])
    )

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _map_batches(batches, engine_factory)

    return distinct.mapInArrow(run, EXAM_NAME_MAP_SCHEMA)


def apply_exam_codes(exams_df: DataFrame, name_map_df: DataFrame | None) -> DataFrame:
    """Join the standard codes onto exams by (institution, raw_exam_name): the one exam-code join.

    silver/exams (``transforms.exams.build.build_exams``) takes its ``exam_codes`` and ``exam_name_status``
    from here, so the rule of which map row belongs to which exam is written once.

    Parameters
    ----------
    exams_df
        Exams with ``institution`` and ``raw_exam_name``.
    name_map_df
        silver/exam_name_map rows (:data:`EXAM_NAME_MAP_SCHEMA`; at least institution, raw_name, codes and
        status); None before the map exists (every exam then gets null codes).

    Returns
    -------
    DataFrame
        ``exams_df`` with the columns of :data:`EXAM_CODE_COLUMNS` added (null for names not in the map);
        one output row per input row.
    """
    base = exams_df.drop(*[c for c, _ in EXAM_CODE_COLUMNS if c in exams_df.columns])
    if name_map_df is None:
        return base.select("*", *[F.lit(None).cast(kind).alias(name) for name, kind in EXAM_CODE_COLUMNS])
    have = set(name_map_df.columns)
    sources = dict(zip([c for c, _ in EXAM_CODE_COLUMNS], _MAP_SOURCES, strict=True))
    names = name_map_df.select(
        F.col("institution").alias("_nm_institution"),
        F.col("raw_name").alias("_nm_raw_name"),
        *[
            (F.col(sources[name]) if sources[name] in have else F.lit(None)).cast(kind).alias(name)
            for name, kind in EXAM_CODE_COLUMNS
        ],
    ).dropDuplicates(["_nm_institution", "_nm_raw_name"])
    joined = base.join(
        names,
        (base["institution"] == names["_nm_institution"]) & (base["raw_exam_name"] == names["_nm_raw_name"]),
        "left",
    )
    return joined.drop("_nm_institution", "_nm_raw_name")
