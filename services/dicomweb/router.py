"""The DICOMweb routes of a space: QIDO-RS searches, WADO-RS metadata and instance retrieval.

Mounted under ``/spaces/{space}/dicomweb``; the guard of :mod:`services.app` has checked the token and put
the space in ``request.state.space`` before any of these run. Each route leaves the number of resources it
returned in ``request.state.result_count`` for the audit row.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import threading
from typing import Any

import orjson
import pydicom
from fastapi import APIRouter, Request, Response
from pydicom.errors import InvalidDicomError
from starlette.concurrency import run_in_threadpool

from radlake.config import Settings
from radlake.storage import filesystem, fs_path
from services.dicomweb.deid import SpaceDeid
from services.dicomweb.index import DicomwebIndex, Snapshot, read_headers
from services.dicomweb.keys import MATCH_KEYS, Level
from services.dicomweb.query import Condition, Query, parse_query, parse_uids
from services.dicomweb.render import render
from services.dicomweb.search import search, space_deid
from services.errors import ServiceError
from services.spaces import Space

DICOM_JSON = "application/dicom+json"
_ACCEPTED_JSON = ("application/dicom+json", "application/json", "*/*", "application/*")
_BULK_MARKER = "radlake:bulk-omitted"

router = APIRouter(prefix="/spaces/{space}/dicomweb")
_index_lock = threading.Lock()


def _index(request: Request) -> Snapshot:
    return _index_of(request).snapshot()


def _index_of(request: Request) -> DicomwebIndex:
    app = request.app
    index = getattr(app.state, "dicomweb_index", None)
    if index is None:
        with _index_lock:
            index = getattr(app.state, "dicomweb_index", None)
            if index is None:
                index = app.state.dicomweb_index = DicomwebIndex(app.state.settings)
    return index  # type: ignore[no-any-return]


async def _index_now(request: Request) -> Snapshot:
    """The snapshot without leaving the event loop when it is fresh; a version check or a (re)load, which
    reads the lake, runs in the thread pool instead."""
    current = _index_of(request).fresh()
    return current if current is not None else await run_in_threadpool(_index, request)


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _space(request: Request) -> Space:
    space = request.state.space
    assert space is not None, "the guard sets the space before any route runs"
    return space  # type: ignore[no-any-return]


def _scope(**uids: str) -> list[Condition]:
    paths = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}
    out = []
    for level, uid in uids.items():
        checked = parse_uids(f"the path's {level} UID", uid)
        if len(checked) != 1:
            raise ServiceError(400, f"the path's {level} UID must be a single UID")
        out.append(Condition(MATCH_KEYS[paths[level]], "in", tuple(checked)))
    return out


def _check_accept(request: Request, accepted: tuple[str, ...]) -> None:
    header = request.headers.get("accept", "")
    if header and not any(a in header for a in accepted):
        raise ServiceError(406, f"this resource is served as {accepted[0]}")


def _base(request: Request, space: Space) -> str:
    return f"{str(request.base_url).rstrip('/')}/spaces/{space.name}/dicomweb"


async def _qido(request: Request, level: Level, scoped: Level | None, scope: list[Condition]) -> Response:
    """A QIDO-RS search, run on the event loop: a search is a few milliseconds of CPU (DuckDB point reads and
    JSON), less than a hand-off to the thread pool and back costs under load."""
    _check_accept(request, _ACCEPTED_JSON)
    settings = _settings(request)
    space = _space(request)
    query = parse_query(
        list(request.query_params.multi_items()),
        level,
        default_limit=settings.serve.default_limit,
        max_limit=settings.serve.max_limit,
    )
    snapshot = await _index_now(request)
    deid = space_deid(snapshot, space)
    result = search(snapshot, space, level, query, scope, max_matches=settings.serve.max_matches)
    request.state.result_count = len(result.rows)
    if not result.rows:
        return Response(status_code=204)
    base = _base(request, space)
    body = render(result.rows, level, query, scoped=scoped, base=base, deid=deid)
    return Response(orjson.dumps(body), media_type=DICOM_JSON)


@router.get("/studies")
async def search_studies(request: Request) -> Response:
    """QIDO-RS: studies of the space."""
    return await _qido(request, "study", None, [])


@router.get("/series")
async def search_series(request: Request) -> Response:
    """QIDO-RS: series of all the space's studies."""
    return await _qido(request, "series", None, [])


@router.get("/instances")
async def search_instances(request: Request) -> Response:
    """QIDO-RS: instances of all the space's studies."""
    return await _qido(request, "instance", None, [])


@router.get("/studies/{study}/series")
async def search_study_series(request: Request, study: str) -> Response:
    """QIDO-RS: series of one study."""
    return await _qido(request, "series", "study", _scope(study=study))


@router.get("/studies/{study}/instances")
async def search_study_instances(request: Request, study: str) -> Response:
    """QIDO-RS: instances of one study."""
    return await _qido(request, "instance", "study", _scope(study=study))


@router.get("/studies/{study}/series/{series}/instances")
async def search_series_instances(request: Request, study: str, series: str) -> Response:
    """QIDO-RS: instances of one series."""
    return await _qido(request, "instance", "series", _scope(study=study, series=series))


def _visible(request: Request, level: Level, scope: list[Condition]) -> tuple[Snapshot, list[dict[str, Any]]]:
    """The rows of ``level`` under ``scope`` that the space sees (404 when there are none)."""
    settings = _settings(request)
    snapshot = _index(request)
    query = Query(limit=settings.serve.max_limit)
    found = search(
        snapshot, _space(request), level, query, scope, max_matches=settings.serve.max_matches, stored=True
    ).rows
    if not found:
        raise ServiceError(404, f"no such {level} in this space")
    return snapshot, found


def _metadata(request: Request, study: str, series: str | None) -> Response:
    _check_accept(request, _ACCEPTED_JSON)
    space = _space(request)
    scope = _scope(study=study) if series is None else _scope(study=study, series=series)
    snapshot, visible = _visible(request, "series", scope)
    deid = space_deid(snapshot, space)
    real_study = visible[0]["se.study_instance_uid"]
    patient_key = (visible[0]["st." + deid.column("pkey")] or "") if deid is not None else ""
    seen_series = {r["se.series_instance_uid"] for r in visible}
    span = snapshot.spans["i.study_instance_uid"].get(real_study)
    bucket = (  # the study's first instance, by its position (an integer compare, not a UID scan)
        snapshot.cursor().execute("SELECT study_bucket FROM instances WHERE ord = ?", [span[0]]).fetchone()
        if span
        else None
    )
    files = snapshot.bucket_files.get(int(bucket[0]), []) if bucket else []
    headers = read_headers(_settings(request), files, real_study, None if series is None else next(iter(seen_series)))
    items: list[bytes] = []
    for text, series_uid in headers:
        if series_uid not in seen_series:
            continue  # a series the space may not see (a modality outside it)
        if deid is None and _BULK_MARKER not in text:
            items.append(text.encode("utf-8"))
        else:
            items.append(orjson.dumps(_without_markers(orjson.loads(text), deid, patient_key)))
    request.state.result_count = len(items)
    return Response(b"[" + b",".join(items) + b"]", media_type=DICOM_JSON)


def _without_markers(dataset: dict[str, Any], deid: SpaceDeid | None, patient_key: str) -> dict[str, Any]:
    """Drop the landing's markers of omitted binary values (no address a client could fetch); de-identify."""
    clean = {t: e for t, e in dataset.items() if not str(e.get("BulkDataURI", "")).startswith(_BULK_MARKER)}
    return deid.dataset_json(clean, patient_key) if deid is not None else clean


@router.get("/studies/{study}/metadata")
def study_metadata(request: Request, study: str) -> Response:
    """WADO-RS: the landed headers of a study's instances (DICOM JSON)."""
    return _metadata(request, study, None)


@router.get("/studies/{study}/series/{series}/metadata")
def series_metadata(request: Request, study: str, series: str) -> Response:
    """WADO-RS: the landed headers of a series' instances (DICOM JSON)."""
    return _metadata(request, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}")
def retrieve_instance(request: Request, study: str, series: str, instance: str) -> Response:
    """WADO-RS: one instance as stored (``multipart/related; type="application/dicom"``), checked first
    against the checksum it was landed with; de-identified for a de-identified space."""
    _check_accept(request, ("multipart/related", "application/dicom", "*/*"))
    snapshot, found = _visible(request, "instance", _scope(study=study, series=series, instance=instance))
    deid = space_deid(snapshot, _space(request))
    row = found[0]
    data = _read_checked(_settings(request), row["i.file_path"], row["i.file_sha256"])
    syntax = row["i.transfer_syntax_uid"] or "1.2.840.10008.1.2.1"
    if deid is not None:
        data = deid.file_bytes(data, row["st." + deid.column("pkey")] or "")
    request.state.result_count = 1
    return multipart("application/dicom", [(f"application/dicom; transfer-syntax={syntax}", data)])


def multipart(kind: str, parts: list[tuple[str, bytes]]) -> Response:
    """A ``multipart/related; type=kind`` answer of (content type, bytes) parts (PS3.18 8.7.3.2)."""
    boundary = secrets.token_hex(16)
    chunks = []
    for content_type, data in parts:
        head = f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n"
        chunks += [head.encode("ascii"), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return Response(b"".join(chunks), media_type=f'multipart/related; type="{kind}"; boundary={boundary}')


def stored_instance(request: Request, study: str, series: str, instance: str) -> pydicom.Dataset:
    """A visible instance's stored file (checked against its landed checksum) as a data set, pixels unread.

    In a de-identified space the pixels the export would quarantine are refused first (403).
    """
    snapshot, found = _visible(request, "instance", _scope(study=study, series=series, instance=instance))
    deid = space_deid(snapshot, _space(request))
    row = found[0]
    data = _read_checked(_settings(request), row["i.file_path"], row["i.file_sha256"])
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError):
        raise ServiceError(500, "the stored file of this instance cannot be read as DICOM") from None
    if deid is not None:
        deid.check_pixels(ds)
    request.state.result_count = 1
    return ds


def _read_checked(settings: Settings, path: str, sha256: str | None) -> bytes:
    """The stored file's bytes, or 500 when it is gone or no longer the file that was landed."""
    try:
        fs = filesystem(settings) if path.startswith("s3://") else None
        if fs is not None:
            with fs.open_input_file(fs_path(settings, path)) as fh:
                data = fh.read()
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except OSError:
        raise ServiceError(500, "the stored file of this instance cannot be read") from None
    if not sha256 or hashlib.sha256(data).hexdigest() != sha256:
        raise ServiceError(500, "the stored file of this instance no longer matches its landed checksum")
    return bytes(data)
