"""Backfill DICOM folders with the Spark engine: header extraction as ``mapInArrow`` jobs, landing on the driver.

The archive of a group holds tens of millions of files; the folder ingest's process pool stops at one
machine. Here the driver walks the folders and sends the new paths to the engine in chunks (one Spark job
per chunk); the engine's workers read, checksum and parse each file with the same pure function as the
process pool (:func:`ingestion.dicom.workers.parse_one`), and the parsed rows come back to the driver,
which classifies and commits them with the same :class:`ingestion.dicom.landing.Lander`, in walk order,
under the same ingest lock and Delta app id. So both ways land the same rows, rejects and reasons, and a
re-run (or a retried Spark task: parsing is pure) lands nothing twice.

Only the parse is spread; classification needs the whole landed state and is cheap. The driver holds at
most two chunks of parsed rows, whatever the number of files. The files must be readable at the same
paths on every engine worker (a shared mount), and the workers need radlake installed (its parser runs
there).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ingestion.dicom.discover import check_paths
from ingestion.dicom.folders import (
    DicomIngestReport,
    IngestProgress,
    finish_report,
    folder_app_id,
    table_versions,
    unlanded,
)
from ingestion.dicom.landing import Lander, ingest_lock, load_state
from ingestion.dicom.workers import INSTANCE_SCHEMA, PARSED_SCHEMA, ParsedChunk, parse_one
from radlake import lake
from radlake.config import DicomLimits, Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CHUNK_FILES = 20_000
"""New paths per engine job: bounds the driver's memory (two chunks of parsed rows at most)."""

TASK_FILES = 500
"""Paths per engine task (partition): small enough to spread a chunk over many workers."""

LAND_FILES = 200
"""Files handed to the lander at a time, as the process pool does (same commit batches)."""

RESULT_SCHEMA = "files binary, instances binary, vanished bigint"
"""What a task returns: its file rows and instance rows as Arrow IPC streams (each with a ``seq`` column
giving the walk order), and how many paths had vanished. Arrow IPC keeps every type exactly as the parser
made it, whatever the engine's type mapping."""

_SEQ = pa.field("seq", pa.int64())
_FILES_SEQ = PARSED_SCHEMA.append(_SEQ)
_INSTANCES_SEQ = INSTANCE_SCHEMA.append(_SEQ)


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _unipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def parse_partition(batches: Iterator[pa.RecordBatch], limits: DicomLimits) -> Iterator[pa.RecordBatch]:
    """The engine side (a ``mapInArrow`` function): parse each (seq, path) row's file with :func:`parse_one`.

    Parameters
    ----------
    batches
        Arrow batches with columns ``seq`` (walk order) and ``path``.
    limits
        The parser's limits (``settings.dicom.limits``), the same as the process pool's.

    Yields
    ------
    pyarrow.RecordBatch
        One row per input batch in :data:`RESULT_SCHEMA`.
    """
    for batch in batches:
        files: list[dict] = []
        instances: list[dict] = []
        vanished = 0
        seqs = batch.column("seq").to_pylist()
        for seq, path in zip(seqs, batch.column("path").to_pylist(), strict=True):
            frow, irow = parse_one(path, None, limits)
            if frow is None:
                vanished += 1
                continue
            files.append({**frow, "seq": seq})
            if irow is not None:
                instances.append({**irow, "seq": seq})
        yield pa.RecordBatch.from_pydict(
            {
                "files": [_ipc(pa.RecordBatch.from_pylist(files, schema=_FILES_SEQ))],
                "instances": [_ipc(pa.RecordBatch.from_pylist(instances, schema=_INSTANCES_SEQ))],
                "vanished": [vanished],
            },
            schema=pa.schema([("files", pa.binary()), ("instances", pa.binary()), ("vanished", pa.int64())]),
        )


def parse_on_engine(
    spark: SparkSession, paths: Sequence[str], first_seq: int, limits: DicomLimits, task_files: int = TASK_FILES
) -> tuple[pa.Table, pa.Table, int]:
    """Parse a chunk of paths in one engine job: (file rows, instance rows, vanished count), in walk order.

    Parameters
    ----------
    spark
        The session of the configured engine.
    paths
        New files, in walk order.
    first_seq
        Walk position of ``paths[0]``.
    limits
        The parser's limits.
    task_files
        Paths per task.

    Returns
    -------
    tuple
        File rows (:data:`ingestion.dicom.workers.PARSED_SCHEMA` plus ``seq``) and instance rows
        (:data:`ingestion.dicom.workers.INSTANCE_SCHEMA` plus ``seq``), each sorted by ``seq``; the number of
        paths that had vanished.
    """
    todo = pa.table(
        {"seq": pa.array(range(first_seq, first_seq + len(paths)), pa.int64()), "path": pa.array(paths, pa.string())}
    )
    tasks = max(1, -(-len(paths) // task_files))
    result = (
        spark.createDataFrame(todo)
        .repartition(tasks)
        .mapInArrow(partial(parse_partition, limits=limits), RESULT_SCHEMA)
        .toArrow()
    )
    files = [_unipc(b) for b in result.column("files").to_pylist()]
    instances = [_unipc(b) for b in result.column("instances").to_pylist()]
    vanished = sum(result.column("vanished").to_pylist())
    files_t = pa.concat_tables([_FILES_SEQ.empty_table(), *files]).sort_by("seq")
    inst_t = pa.concat_tables([_INSTANCES_SEQ.empty_table(), *instances]).sort_by("seq")
    return files_t, inst_t, vanished


def _slices(files: pa.Table, instances: pa.Table, size: int) -> Iterator[ParsedChunk]:
    """Cut a chunk's sorted rows into the lander's pieces (``size`` files each, their instances with them)."""
    inst_seq = instances.column("seq").to_numpy()
    file_seq = files.column("seq").to_numpy()
    for start in range(0, files.num_rows, size):
        stop = min(start + size, files.num_rows)
        lo = int(inst_seq.searchsorted(file_seq[start]))
        hi = int(inst_seq.searchsorted(file_seq[stop - 1], side="right"))
        f = files.slice(start, stop - start).drop_columns(["seq"]).combine_chunks()
        i = instances.slice(lo, hi - lo).drop_columns(["seq"]).combine_chunks()
        yield ParsedChunk(
            files=f.to_batches()[0],
            instances=i.to_batches()[0] if i.num_rows else pa.RecordBatch.from_pylist([], schema=INSTANCE_SCHEMA),
            vanished=[],
        )


def backfill_dicom(
    settings: Settings,
    paths: Sequence[Path | str],
    *,
    spark: SparkSession | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    batch_files: int = 2000,
    chunk_files: int = CHUNK_FILES,
    task_files: int = TASK_FILES,
) -> DicomIngestReport:
    """Land the DICOM headers of every new file under ``paths``, parsing on the Spark engine.

    The same outcome as :func:`ingestion.dicom.api.ingest_dicom` (same rows, rejects and reasons; files
    already landed are not read again; a re-run commits nothing), with the parsing spread over the engine's
    workers.

    Parameters
    ----------
    settings
        ``settings.lake`` is where bronze lives; ``settings.spark`` the engine (when ``spark`` is None).
    paths
        Folders and/or files, readable at the same paths on every engine worker.
    spark
        The session to run on; default :func:`radlake.spark.spark_session` of ``settings``.
    progress
        Called after each landed chunk with an :class:`~ingestion.dicom.api.IngestProgress`.
    batch_files
        Files per commit batch.
    chunk_files
        New files per engine job (driver memory is bounded by two chunks of parsed rows).
    task_files
        Files per engine task.

    Returns
    -------
    DicomIngestReport
        Counts per outcome, files seen / skipped, table versions before and after, seconds.

    Raises
    ------
    radlake.errors.DataError
        A path does not exist.
    radlake.errors.LakeError
        The lake cannot be written.
    radlake.errors.SourceUnreachableError
        The engine cannot be reached.
    """
    started = time.perf_counter()
    roots = check_paths(paths)
    lake.ensure_writable(settings)
    if spark is None:
        from radlake.spark import spark_session

        spark = spark_session(settings)
    with ingest_lock(settings):
        return _backfill(settings, spark, roots, started, progress, batch_files, chunk_files, task_files)


def _backfill(
    settings: Settings,
    spark: SparkSession,
    roots: list[Path],
    started: float,
    progress: Callable[[IngestProgress], None] | None,
    batch_files: int,
    chunk_files: int,
    task_files: int,
) -> DicomIngestReport:
    before = table_versions(settings)
    state = load_state(settings)
    report = DicomIngestReport()
    prog = IngestProgress()
    # The app id of this host's folder ingests: the ingest lock serialises them, and another host's differ.
    lander = Lander(
        settings, state, app_id=folder_app_id(settings), batch_files=batch_files, timezone=settings.timezone
    )
    limits = settings.dicom.limits
    land_size = min(LAND_FILES, batch_files)  # a batch is whole pieces, as in the process pool

    def chunks() -> Iterator[tuple[int, list[str]]]:
        seq = 0
        chunk: list[str] = []
        for path in unlanded(roots, state, prog):
            chunk.append(path)
            if len(chunk) >= chunk_files:
                yield seq, chunk
                seq += len(chunk)
                chunk = []
        prog.walk_done = True
        if chunk:
            yield seq, chunk

    def land(job: Future[tuple[pa.Table, pa.Table, int]]) -> None:
        files, instances, vanished = job.result()
        report.files_vanished += vanished
        for piece in _slices(files, instances, land_size):
            lander.add(piece, "folder")
        prog.processed += files.num_rows + vanished
        if progress is not None:
            progress(prog)

    # One engine job runs while the driver walks on and lands the previous chunk.
    with ThreadPoolExecutor(1, thread_name_prefix="dicom-backfill") as pool:
        waiting: Future[tuple[pa.Table, pa.Table, int]] | None = None
        try:
            for first, chunk in chunks():
                job = pool.submit(parse_on_engine, spark, chunk, first, limits, task_files)
                if waiting is not None:
                    land(waiting)
                waiting = job
            if waiting is not None:
                land(waiting)
                waiting = None
            lander.close()
        except BaseException:
            if waiting is not None:
                waiting.cancel()
            lander.abort()  # what was committed stays, and is exactly what a re-run builds on
            raise
    return finish_report(settings, report, prog, lander, before, started, progress)
