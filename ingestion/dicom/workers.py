"""Parse files in worker processes: read, checksum and parse headers, return Arrow batches in input order.

:func:`parse_one` is a pure function of (path, the file's bytes, the limits) → file row and instance row (or a
reject with its reason): any other way of spreading the work (a Spark ``mapInArrow`` backfill) that calls it
lands the same rows.

A worker process starts lean (process start-up was about a third of a 20,000-file ingest's CPU, issue 30): its
initializer (:mod:`ingestion.dicom.worker_boot`) keeps numpy and pandas out, and this module, its entry,
imports only what reading, hashing and parsing need (pyarrow, the header parser, the schema module), never the
configuration (pydantic, YAML), the catalog or the command line; what it sends a worker
(:class:`~ingestion.dicom.header.ParseLimits`) unpickles without them. A test keeps it so.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import multiprocessing
import os
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ingestion.dicom.header import (
    DEFAULT_LIMITS,
    Header,
    Limits,
    ParseLimits,
    Reject,
    acquisition_datetime,
    bounded_reason,
    parse_da,
    parse_header,
    to_float,
    to_int,
)
from ingestion.dicom.worker_boot import worker_init
from radlake._schemas import DICOM_INSTANCE_FILE_COLUMNS

MMAP_FROM = 16 << 20
"""Files from this size on are memory-mapped for parsing (it touches only the header pages) and hashed by
streaming reads (hashing a mapping would map every page of the file into this process)."""

CHUNK_BYTES = 32 << 20
"""A chunk's parsed rows stop growing past about this many bytes of ``header_json``: the files left over are
parsed as the next piece, so what a worker sends back is bounded by bytes, not only by files."""

PARSED_SCHEMA = pa.schema(
    [
        ("file_path", pa.string()),
        ("file_size", pa.int64()),
        ("file_mtime", pa.timestamp("us", tz="UTC")),
        ("sha256", pa.string()),
        ("parsed", pa.bool_()),
        ("sop_instance_uid", pa.string()),
        ("reason", pa.string()),
    ]
)
"""One row per file read: what the landing step needs to classify it."""

INSTANCE_SCHEMA = DICOM_INSTANCE_FILE_COLUMNS
"""Columns of bronze/dicom_instances that come from the file (the catalog's; landing adds ingest times)."""

# Text columns taken as they are from the header (key of Header.values → column).
_TEXT_COLUMNS = (
    "sop_instance_uid",
    "sop_class_uid",
    "study_instance_uid",
    "series_instance_uid",
    "patient_id",
    "patient_name",
    "patient_sex",
    "accession_number",
    "modality",
    "study_time",
    "study_description",
    "series_description",
    "body_part_examined",
    "institution_name",
    "station_name",
    "manufacturer",
    "manufacturer_model_name",
)


@dataclass
class ParsedChunk:
    """Result of one chunk of files, rows in input order.

    Attributes
    ----------
    files
        One row per file (:data:`PARSED_SCHEMA`); files that vanished before they were read are left out.
    instances
        One row per file whose ``parsed`` is true, in the same order (:data:`INSTANCE_SCHEMA`).
    vanished
        Paths that no longer existed when read.
    rest
        Paths of the chunk not parsed yet because the rows reached :data:`CHUNK_BYTES` (parse them next).
    """

    files: pa.RecordBatch
    instances: pa.RecordBatch
    vanished: list[str]
    rest: list[str] = field(default_factory=list)


class NotReadable(Exception):
    """A file that is not read: not a regular file, or over ``max_file_bytes`` (a reject with ``reason``)."""

    def __init__(self, reason: str, st: os.stat_result) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stat = st


def read_file(path: str, max_bytes: int = DEFAULT_LIMITS.max_file_bytes) -> tuple[Any, int, int, str]:
    """The file's bytes (or a memory map), size, mtime in ns and sha256 hex digest.

    Opened without blocking and checked after opening, so a FIFO or device swapped in after the folder
    walk is refused instead of blocking the ingest (and its lock) for ever.

    Raises
    ------
    OSError
        The file cannot be opened or read.
    NotReadable
        Not a regular file, or larger than ``max_bytes``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(f"not_a_regular_file: {_file_kind(st.st_mode)}", st)
        size = st.st_size
        if size > max_bytes:
            raise NotReadable(f"file_too_large: {size} bytes, over dicom.limits.max_file_bytes ({max_bytes})", st)
        if size >= MMAP_FROM:
            h = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            return mm, size, st.st_mtime_ns, h.hexdigest()
        data = fh.read()
    return data, len(data), st.st_mtime_ns, hashlib.sha256(data).hexdigest()


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def instance_row(header: Header, path: str, sha256: str, size: int) -> dict[str, Any]:
    """The typed bronze/dicom_instances columns of one parsed file."""
    v = header.values
    row: dict[str, Any] = {k: v.get(k) or None for k in _TEXT_COLUMNS}
    exposure = to_float(v.get("exposure"))
    if exposure is None:
        uas = to_float(v.get("exposure_in_uas"))
        exposure = None if uas is None else uas / 1000.0
    row.update(
        patient_birth_date=parse_da(v.get("patient_birth_date")),
        study_date=parse_da(v.get("study_date")),
        study_date_raw=v.get("study_date") or None,
        series_number=to_int(v.get("series_number")),
        instance_number=to_int(v.get("instance_number")),
        slice_thickness=to_float(v.get("slice_thickness")),
        kvp=to_float(v.get("kvp")),
        exposure_mas=exposure,
        acquisition_datetime=acquisition_datetime(v),
        transfer_syntax_uid=header.transfer_syntax_uid,
        specific_character_set=v.get("specific_character_set") or None,
        charset_inferred=header.inferred_charset is not None,
        inferred_character_set=header.inferred_charset,
        file_path=path,
        file_sha256=sha256,
        file_size=size,
        header_json=header.json,
        number_of_frames=number_of_frames(v),
        frames=header.frames,
    )
    return row


def number_of_frames(values: dict[str, str]) -> int | None:
    """Frames of pixel data: Number of Frames (0028,0008), else 1 for an image (it has Rows), else None."""
    frames = to_int(values.get("number_of_frames"))
    if frames is not None and frames >= 0:
        return frames
    return 1 if values.get("rows") else None


def parse_one(
    path: str, data: bytes | None = None, limits: Limits = DEFAULT_LIMITS
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Read and parse one file: (file row, instance row or None); (None, None) when the file vanished.

    Parameters
    ----------
    path
        Absolute path of the file.
    data
        The file's bytes when the caller already holds them; otherwise the file is read (memory-mapped when
        large).
    limits
        What one file may make the parser hold (``settings.dicom.limits``).
    """
    try:
        if data is None:
            buf, size, mtime_ns, sha = read_file(path, limits.max_file_bytes)
        else:
            buf, size, mtime_ns = data, len(data), os.stat(path).st_mtime_ns
            sha = hashlib.sha256(data).hexdigest()
    except FileNotFoundError:
        return None, None
    except NotReadable as exc:
        return _file_row(path, exc.stat.st_size, exc.stat.st_mtime_ns // 1000, None, False, None, exc.reason), None
    except OSError as exc:
        seen_size: int | None = None
        seen_mtime: int | None = None
        with contextlib.suppress(OSError):
            st = os.stat(path)
            seen_size, seen_mtime = st.st_size, st.st_mtime_ns // 1000
        reason = f"unreadable: {exc.strerror or type(exc).__name__}"
        return _file_row(path, seen_size, seen_mtime, None, False, None, reason), None
    mtime = mtime_ns // 1000  # µs since the epoch: Arrow takes ints for timestamps without a pandas detour
    try:
        header = parse_header(buf, size, limits)
    except Reject as rej:
        return _file_row(path, size, mtime, sha, False, None, rej.reason), None
    except Exception as exc:
        reason = f"malformed_header: parser failed ({type(exc).__name__}: {exc})"
        return _file_row(path, size, mtime, sha, False, None, reason), None
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()
    uid = header.values["sop_instance_uid"]
    return _file_row(path, size, mtime, sha, True, uid, None), instance_row(header, path, sha, size)


def set_aside_row(path: str, reason: str, max_bytes: int = DEFAULT_LIMITS.max_file_bytes) -> dict[str, Any]:
    """The reject row of a file landed unread (its checksum by a streaming read; none when too large)."""
    size = mtime = sha = None
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb", buffering=0) as fh:
            st = os.fstat(fd)
            size, mtime = st.st_size, st.st_mtime_ns // 1000
            if stat.S_ISREG(st.st_mode) and size <= max_bytes:
                h = hashlib.sha256()
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
                sha = h.hexdigest()
    return _file_row(path, size, mtime, sha, False, None, reason)


def _file_row(
    path: str,
    size: int | None,
    mtime: int | None,
    sha: str | None,
    parsed: bool,
    uid: str | None,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "file_path": path,
        "file_size": size,
        "file_mtime": mtime,
        "sha256": sha,
        "parsed": parsed,
        "sop_instance_uid": uid,
        "reason": None if reason is None else bounded_reason(reason),
    }


def rows_to_chunk(files: list[dict], instances: list[dict], vanished: list[str]) -> ParsedChunk:
    """Turn row dicts into the Arrow batches of a :class:`ParsedChunk`."""
    return ParsedChunk(
        files=pa.RecordBatch.from_pylist(files, schema=PARSED_SCHEMA),
        instances=pa.RecordBatch.from_pylist(instances, schema=INSTANCE_SCHEMA),
        vanished=vanished,
    )


def parse_paths(paths: list[str], limits: Limits = DEFAULT_LIMITS, max_bytes: int = CHUNK_BYTES) -> ParsedChunk:
    """Parse a chunk of files (the unit of work of a worker process), stopping once the rows kept hold
    ``max_bytes`` of ``header_json``: the paths not parsed are returned in ``rest``."""
    files: list[dict] = []
    instances: list[dict] = []
    vanished: list[str] = []
    kept = 0
    for i, path in enumerate(paths):
        if kept >= max_bytes:
            chunk = rows_to_chunk(files, instances, vanished)
            chunk.rest = paths[i:]
            return chunk
        frow, irow = parse_one(path, None, limits)
        if frow is None:
            vanished.append(path)
            continue
        files.append(frow)
        if irow is not None:
            instances.append(irow)
            kept += len(irow["header_json"])
    return rows_to_chunk(files, instances, vanished)


def parse_in_order(chunks: Iterable[list[str]], workers: int, limits: Limits = DEFAULT_LIMITS) -> Iterator[ParsedChunk]:
    """Parse chunks of paths, in worker processes when ``workers`` > 0, yielding results in input order.

    At most a few chunks per worker are in flight, so memory does not grow with the number of files, and
    results come back in input order, so classification is the same however the work was spread.
    Processes are spawned (not forked): the caller may run threads (Spark, a DICOM server, Dagster).
    """
    if workers <= 0:
        for chunk in chunks:
            yield from _with_rest(parse_paths(chunk, limits), limits)
        return
    limits = ParseLimits.of(limits)  # a plain object: unpickling it in a worker imports no pydantic
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init) as pool:
        inflight: deque[Future[ParsedChunk]] = deque()
        try:
            for chunk in chunks:
                inflight.append(pool.submit(parse_paths, chunk, limits))
                if len(inflight) >= 3 * workers:
                    yield from _with_rest(inflight.popleft().result(), limits)
            while inflight:
                yield from _with_rest(inflight.popleft().result(), limits)
        finally:
            for fut in inflight:
                fut.cancel()


def _with_rest(chunk: ParsedChunk, limits: Limits) -> Iterator[ParsedChunk]:
    """A chunk, then the pieces of its ``rest`` parsed here (rare: only chunks of very large headers)."""
    yield chunk
    while chunk.rest:
        chunk = parse_paths(chunk.rest, limits)
        yield chunk


def default_workers() -> int:
    """Worker processes for parsing: one per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
