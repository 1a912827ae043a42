"""DICOM C-STORE receiver (SCP): store received instances losslessly, land their headers in micro-batches.

Each received data set is written exactly as it arrived on the wire, behind the preamble and a file meta
header naming the negotiated transfer syntax (nothing is decoded and re-encoded), to a partial file that
is read back and checked against the checksum of the received bytes before it gets its final name. Only
then does the sender get a success status. An instance received again with the same bytes is not written
twice; one with the same SOP Instance UID and other bytes is stored beside the first and lands as a
``conflict``: nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingestion.dicom.discover import PARTIAL_SUFFIX
from ingestion.dicom.landing import Lander, ingest_lock, load_state
from ingestion.dicom.workers import parse_one, rows_to_chunk
from radlake import lake
from radlake.config import Settings
from radlake.errors import SourceUnreachableError

log = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000

MAX_BATCH_FILES = 2000
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_UID = re.compile(r"^[0-9][0-9.]{0,63}$")


def receiver_app_id(ae_title: str, port: int) -> str:
    """Delta app transaction id of one receiver (one writer per id: AE title and port)."""
    return f"radlake.dicom.listen:{ae_title.strip()}@{port}"


class _Store:
    """Writes received data sets to the storage folder and queues their parsed rows for landing."""

    def __init__(self, storage: Path, zone: ZoneInfo, rows: queue.Queue) -> None:
        self.storage = storage
        self.zone = zone
        self.rows = rows
        self._lock = threading.Lock()

    def handle_store(self, event: Any) -> int:
        try:
            data: bytes = event.encoded_dataset(include_meta=True)
        except Exception:  # malformed request: nothing to store
            log.exception("C-STORE request without a readable data set")
            return STATUS_CANNOT_UNDERSTAND
        calling = _SAFE.sub("_", (event.assoc.requestor.ae_title or "UNKNOWN").strip()) or "UNKNOWN"
        sop_uid = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        try:
            path = self.write(data, calling, sop_uid)
        except OSError as exc:
            log.error("could not store a received instance: %s", exc.strerror or exc)
            return STATUS_OUT_OF_RESOURCES
        if path is not None:
            try:
                frow, irow = parse_one(str(path), data)
            except Exception:
                # Stored and verified, so acknowledged; the next start of the receiver lands it.
                log.exception("stored %s but could not parse it for landing", path)
                return STATUS_SUCCESS
            if frow is not None:
                self.rows.put((frow, irow, f"dicom:{calling}"))
        return STATUS_SUCCESS

    def write(self, data: bytes, calling: str, sop_uid: str) -> Path | None:
        """Store ``data`` and return its path, or None when the same bytes are already stored.

        Raises
        ------
        OSError
            Writing or verifying failed (the partial file is removed).
        """
        digest = hashlib.sha256(data).hexdigest()
        name = sop_uid if _UID.match(sop_uid) else f"sha256-{digest}"
        day = datetime.now(self.zone).strftime("%Y%m%d")
        folder = self.storage / calling / day
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{threading.get_ident()}{PARTIAL_SUFFIX}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            # Read back what the disk holds: a short write or a bad disk must not be acknowledged.
            with open(tmp, "rb") as fh:
                if hashlib.sha256(fh.read()).hexdigest() != digest:
                    raise OSError(f"verification failed: {tmp} differs from the received bytes")
            with self._lock:
                for candidate in (folder / f"{name}.dcm", folder / f"{name}.{digest[:16]}.dcm"):
                    try:
                        os.link(tmp, candidate)  # fails if the name exists: never overwrites
                        return candidate
                    except FileExistsError:
                        if _sha256_of(candidate) == digest:
                            return None  # the same bytes again: already stored (and landed)
                raise OSError(f"{name}: too many different instances with this SOP Instance UID today")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _land_loop(rows: queue.Queue, lander: Lander, flush_seconds: float, failed: list[BaseException]) -> None:
    """Collect parsed rows into micro-batches: commit every ``flush_seconds`` (or when a batch is full)."""
    try:
        _land_batches(rows, lander, flush_seconds)
    except BaseException as exc:
        failed.append(exc)


def _land_batches(rows: queue.Queue, lander: Lander, flush_seconds: float) -> None:
    files: list[dict] = []
    instances: list[dict] = []
    sources: list[str] = []
    first_at: float | None = None
    stopping = False
    while True:
        timeout = 1.0 if first_at is None else max(0.0, first_at + flush_seconds - time.monotonic())
        try:
            item = rows.get(timeout=timeout)
            if item is _STOP:
                stopping = True
            else:
                frow, irow, source = item
                files.append(frow)
                sources.append(source)
                if irow is not None:
                    instances.append(irow)
                if first_at is None:
                    first_at = time.monotonic()
        except queue.Empty:
            pass
        due = first_at is not None and (time.monotonic() - first_at >= flush_seconds or len(files) >= MAX_BATCH_FILES)
        if (due or stopping) and files:
            # Folder ingests may land the same instances (a PACS that also exports to a watch folder): take
            # their lock, and classify against what they landed since this receiver last looked.
            with ingest_lock(lander.settings):
                lander.catch_up()
                lander.add(rows_to_chunk(files, instances, []), sources)
                lander.commit_now()
                lander.mark_seen()
            files, instances, sources, first_at = [], [], [], None
        if stopping:
            return


_STOP = object()  # put on the row queue after the server stopped: land what is left, then end


def _drain_associations(server: Any, timeout: float) -> None:
    """Let established associations finish (up to ``timeout``); abort connections that never associated.

    A TCP connection without an A-ASSOCIATE request (a port probe, a health check) would otherwise hold the
    shutdown until its ARTIM timer expires.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = server.active_associations
        if not any(a.is_established for a in active):
            break
        time.sleep(0.05)
    for assoc in server.active_associations:
        assoc.abort()


def run_receiver(
    settings: Settings,
    *,
    host: str,
    port: int,
    ae_title: str,
    storage: Path,
    stop_event: threading.Event,
    flush_seconds: float = 1.0,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve C-STORE until ``stop_event`` is set (see :func:`ingestion.dicom.api.listen`).

    Raises
    ------
    radlake.errors.SourceUnreachableError
        The port cannot be bound.
    """
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    from ingestion.dicom.api import ingest_dicom

    lake.ensure_writable(settings)
    storage = storage.resolve()
    storage.mkdir(parents=True, exist_ok=True)
    # Files stored before a crash but not landed yet are landed first.
    ingest_dicom(settings, [storage], workers=0)

    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = 0  # no limit: fewer PDUs for large instances
    ae.require_called_aet = True  # answer only associations addressed to this AE title
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    rows: queue.Queue = queue.Queue()
    store = _Store(storage, ZoneInfo(settings.timezone), rows)
    try:
        server = ae.start_server((host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, store.handle_store)])
    except OSError as exc:
        raise SourceUnreachableError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    assert server is not None  # block=False always returns the server
    bound = server.server_address[1]
    try:
        lander = Lander(
            settings,
            load_state(settings),
            app_id=receiver_app_id(ae_title, bound),
            batch_files=MAX_BATCH_FILES,
            timezone=settings.timezone,
        )
    except BaseException:
        server.shutdown()  # nothing can be landed: do not keep the port accepting instances
        raise
    failed: list[BaseException] = []
    landing = threading.Thread(
        target=_land_loop, args=(rows, lander, flush_seconds, failed), name="dicom-landing", daemon=True
    )
    landing.start()
    log.info("listening as %s on %s:%d, storing into %s", ae_title, host, bound, storage)
    try:
        if ready is not None:
            ready(bound)
        while not stop_event.wait(0.5):
            if not landing.is_alive():
                break  # the landing failed: stop receiving what cannot be landed
    finally:
        server.shutdown()  # stops accepting; associations in progress run to their end
        _drain_associations(server, timeout=30.0)
        rows.put(_STOP)  # after the last association: every stored instance is queued before it
        landing.join()
        if failed:
            lander.abort()
            raise failed[0]
        lander.close()
