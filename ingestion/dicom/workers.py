"""Parse files in worker processes: read, checksum and parse headers, return Arrow batches in input order.

:func:`parse_one` is a pure function of (path, the file's bytes, the limits) → file row and instance row (or a
reject with its reason): any other way of spreading the work (a Spark ``mapInArrow`` backfill) that calls it
lands the same rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.abc
import mmap
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ingestion.dicom.header import (
    DEFAULT_LIMITS,
    Header,
    Reject,
    acquisition_datetime,
    bounded_reason,
    parse_da,
    parse_header,
    to_float,
    to_int,
)
from radlake import catalog
from radlake.config import DicomLimits

MMAP_FROM = 16 << 20
"""Files from this size on are memory-mapped: parsing touches only the header pages; hashing reads all."""

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

INSTANCE_SCHEMA = catalog.schemas.DICOM_INSTANCE_FILE_COLUMNS
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
    """

    files: pa.RecordBatch
    instances: pa.RecordBatch
    vanished: list[str]


def read_file(path: str) -> tuple[Any, int, int, str]:
    """The file's bytes (or a memory map), size, mtime in ns and sha256 hex digest.

    Raises
    ------
    OSError
        The file cannot be opened or read.
    """
    with open(path, "rb", buffering=0) as fh:
        st = os.fstat(fh.fileno())
        size = st.st_size
        if size >= MMAP_FROM:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            return mm, size, st.st_mtime_ns, hashlib.sha256(mm).hexdigest()
        data = fh.read()
    return data, len(data), st.st_mtime_ns, hashlib.sha256(data).hexdigest()


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
    )
    return row


def parse_one(
    path: str, data: bytes | None = None, limits: DicomLimits = DEFAULT_LIMITS
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
            buf, size, mtime_ns, sha = read_file(path)
        else:
            buf, size, mtime_ns = data, len(data), os.stat(path).st_mtime_ns
            sha = hashlib.sha256(data).hexdigest()
    except FileNotFoundError:
        return None, None
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


def parse_paths(paths: list[str], limits: DicomLimits = DEFAULT_LIMITS) -> ParsedChunk:
    """Parse a chunk of files (the unit of work of a worker process)."""
    files: list[dict] = []
    instances: list[dict] = []
    vanished: list[str] = []
    for path in paths:
        frow, irow = parse_one(path, None, limits)
        if frow is None:
            vanished.append(path)
            continue
        files.append(frow)
        if irow is not None:
            instances.append(irow)
    return rows_to_chunk(files, instances, vanished)


def parse_in_order(
    chunks: Iterable[list[str]], workers: int, limits: DicomLimits = DEFAULT_LIMITS
) -> Iterator[ParsedChunk]:
    """Parse chunks of paths, in worker processes when ``workers`` > 0, yielding results in input order.

    At most a few chunks per worker are in flight, so memory does not grow with the number of files, and
    results come back in input order, so classification is the same however the work was spread.
    Processes are spawned (not forked): the caller may run threads (Spark, a DICOM server, Dagster).
    """
    if workers <= 0:
        for chunk in chunks:
            yield parse_paths(chunk, limits)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        inflight: deque[Future[ParsedChunk]] = deque()
        try:
            for chunk in chunks:
                inflight.append(pool.submit(parse_paths, chunk, limits))
                if len(inflight) >= 3 * workers:
                    yield inflight.popleft().result()
            while inflight:
                yield inflight.popleft().result()
        finally:
            for fut in inflight:
                fut.cancel()


class _NoPandas(importlib.abc.MetaPathFinder):
    """Makes ``import pandas`` fail in a parsing worker."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ImportError("pandas is not used by DICOM parsing workers")
        return None


def _worker_init() -> None:
    # pyarrow imports pandas (about a second of CPU) the first time it converts a Python list, only to ask
    # whether the list is a pandas object. Workers never hold pandas objects: let pyarrow find no pandas.
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


def default_workers() -> int:
    """Worker processes for parsing: one per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
