"""DICOM C-STORE receiver (SCP): store received instances losslessly, land their headers in micro-batches.

Who may send: only calling AE titles in ``dicom.receiver.allowed_calling_aets`` (others are rejected at
association, before any data set is received); optionally over TLS (``dicom.receiver.tls``, mutual when a CA
is given). What a peer can make the receiver hold is bounded (:mod:`ingestion.dicom.netguard`): PDUs and data
sets past their maxima cut the connection, and data sets stream to disk as they arrive.

Each received data set is written exactly as it arrived on the wire, behind the preamble and a file meta
header naming the negotiated transfer syntax (nothing is decoded and re-encoded), to a partial file in
``<storage>/.incoming``; it is flushed to disk and hashed, then gets its final name by a hard link
(``<storage>/<calling AE, sanitised>/<yyyymmdd>/<SOP Instance UID>.dcm``). Only then does the sender get a
success status. No path is built from raw peer text: the AE title keeps only ``[A-Za-z0-9_-]`` and the SOP
Instance UID is used only when it is a plain UID, and every final path is checked to resolve inside storage.
An instance received again with the same bytes is not written twice; one with the same SOP Instance UID and
other bytes is stored beside the first and lands as a ``conflict``: nothing is overwritten.

Landing never holds up receiving. Stored files are queued for the next micro-batch, which lands when the
lake's DICOM ingest lock is free; while another writer (a long folder ingest) holds it, the receiver keeps
accepting and storing, and what it stored is landed once the lock is free: from memory for a short wait, by
a scan of the storage folder for a long one (and after a restart, for files stored before a crash or a
stop that found the lake busy). Classification against the lake makes every landing exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import re
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ingestion.dicom.admission import AdmissionLimits, ReceiverMetrics, admit
from ingestion.dicom.discover import PARTIAL_SUFFIX
from ingestion.dicom.folders import land_unlanded
from ingestion.dicom.landing import IngestLockBusy, Lander, ingest_lock, load_state
from ingestion.dicom.netguard import NetLimits, clear_incoming, discard_partial, guard_ae, reset_request
from ingestion.dicom.workers import parse_one, rows_to_chunk
from radlake import lake
from radlake.config import ReceiverTLS, Settings
from radlake.errors import ConfigError, SourceUnreachableError

if TYPE_CHECKING:
    from pynetdicom.events import EventHandlerType

log = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000

MAX_BATCH_FILES = 2000
"""Files per micro-batch, and the most parsed rows held while the lake is busy (beyond: landed from disk)."""

MAX_BATCH_BYTES = 32 << 20
"""A micro-batch lands once its rows hold this many bytes of headers, however few files it has."""

MAX_HELD_BYTES = 128 << 20
"""The most bytes of parsed rows queued and held at once (beyond: the files are stored, a scan lands them)."""

RETRY_SECONDS = 5.0
"""Wait before trying again after a landing failed (the files stay stored and are landed by a scan)."""

STOP_WAIT_SECONDS = 10.0
"""At stop, how long to wait for a busy lake before leaving the last files for the next start."""

METRICS_SECONDS = 5.0
"""How often the counters are written to the metrics file."""

INCOMING = ".incoming"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_UID = re.compile(r"^[0-9][0-9.]{0,63}$")


def receiver_app_id(ae_title: str, port: int) -> str:
    """Delta app transaction id of one receiver (one writer per id: AE title and port)."""
    return f"radlake.dicom.listen:{ae_title.strip()}@{port}"


def safe_name(peer_text: str) -> str:
    """A folder name from peer-supplied text (an AE title): only ``[A-Za-z0-9_-]``.

    Dots, separators and control characters become ``_``, so the result is never ``.``, ``..``, absolute or
    nested; empty text gives ``UNKNOWN``. A title that had to be changed gets ``-`` and 8 hex digits of its
    hash, so two titles never share a folder (``CT.1`` and ``CT_1`` are two modalities).
    """
    text = peer_text.strip()
    name = _UNSAFE.sub("_", text)[:16].strip("_") or "UNKNOWN"
    if name == text or not text:
        return name
    return f"{name}-{hashlib.sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def inside(storage: Path, path: Path) -> Path:
    """``path`` resolved, after checking it lies inside ``storage`` (a planted symlink cannot lead out).

    Raises
    ------
    OSError
        The path resolves outside the storage folder.
    """
    resolved = path.resolve()
    if not resolved.is_relative_to(storage):
        raise OSError(f"refusing to store outside the storage folder: {resolved}")
    return resolved


class _Store:
    """Gives received data sets their final name in the storage folder and queues their parsed rows."""

    def __init__(
        self, settings: Settings, storage: Path, rows: queue.Queue, held: _Held, metrics: ReceiverMetrics
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.storage = storage
        self.zone = ZoneInfo(settings.timezone)
        self.rows = rows
        self.held = held
        self._lock = threading.Lock()

    def handle_store(self, event: Any) -> int:
        reset_request(event.assoc)
        calling = safe_name(str(event.assoc.requestor.ae_title or ""))
        sop_uid = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        try:
            path = self.store_file(Path(event.dataset_path), calling, sop_uid)  # streamed in by netguard
        except OSError as exc:
            # Named by its calling AE only: the error text may carry the SOP Instance UID (a DICOM value).
            log.error("could not store an instance from %s: %s", calling, exc.strerror or type(exc).__name__)
            return STATUS_OUT_OF_RESOURCES
        except Exception:  # malformed request: nothing to store
            log.exception("C-STORE request without a readable data set")
            return STATUS_CANNOT_UNDERSTAND
        self.metrics.inc("instances_stored")
        if path is not None:
            try:
                frow, irow = parse_one(str(path), None, self.settings.dicom.limits)
            except Exception as exc:
                # Stored, so acknowledged; a later scan of the storage folder lands it.
                log.warning("stored an instance from %s but could not parse it (%s)", calling, type(exc).__name__)
                return STATUS_SUCCESS
            if frow is not None:
                size = row_bytes(irow)
                if not self.held.take(size):
                    return STATUS_SUCCESS  # memory stays bounded: the file is stored, a scan lands it
                try:
                    self.rows.put_nowait((frow, irow, f"dicom:{calling}", size))
                except queue.Full:
                    self.held.give_back(size)
                    self.held.overflow.set()
        return STATUS_SUCCESS

    def _folder(self, calling: str) -> Path:
        day = datetime.now(self.zone).strftime("%Y%m%d")
        folder = self.storage / safe_name(calling) / day
        folder.mkdir(parents=True, exist_ok=True)
        return inside(self.storage, folder)

    def store_file(self, src: Path, calling: str, sop_uid: str) -> Path | None:
        """Give a received file its final name and return it, or None when the same bytes are already stored.

        Raises
        ------
        OSError
            Syncing, hashing or linking failed.
        """
        with open(src, "rb+") as fh:
            os.fsync(fh.fileno())  # on disk before the sender hears success
            h = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        name = sop_uid if _UID.match(sop_uid) else f"sha256-{digest}"
        folder = self._folder(calling)
        with self._lock:
            for candidate in (folder / f"{name}.dcm", folder / f"{name}.{digest[:16]}.dcm"):
                try:
                    _link(src, candidate)  # fails if the name exists: never overwrites
                    return candidate
                except FileExistsError:
                    if _sha256_of(candidate) == digest:
                        return None  # the same bytes again: already stored (and landed or queued)
            raise OSError(f"{name}: too many different instances with this SOP Instance UID today")


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: incoming and storage on different file systems
            raise
        tmp = dst.with_name(f".{dst.name}{PARTIAL_SUFFIX}")
        with open(src, "rb") as a, open(tmp, "wb") as b:
            for block in iter(lambda: a.read(1 << 20), b""):
                b.write(block)
            b.flush()
            os.fsync(b.fileno())
        try:
            os.link(tmp, dst)
        finally:
            os.unlink(tmp)


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def row_bytes(irow: dict | None) -> int:
    """About the memory one queued row holds (its header JSON dominates)."""
    return 512 + (len(irow["header_json"]) if irow is not None else 0)


class _Held:
    """Bytes of parsed rows queued or held for landing, bounded by :data:`MAX_HELD_BYTES`.

    Past the bound a row is not kept (``overflow`` is set): its file is stored, and a scan of storage lands it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self.overflow = threading.Event()
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.bytes + n > self.limit:
                self.overflow.set()
                return False
            self.bytes += n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.bytes -= n


_STOP = object()  # put on the row queue after the server stopped: land what is left, then end


class _Landing:
    """The landing thread: micro-batches from the row queue, or a scan of storage, whenever the lake is free."""

    def __init__(
        self,
        settings: Settings,
        storage: Path,
        rows: queue.Queue,
        held: _Held,
        app_id: str,
        flush: float,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.rows = rows
        self.held = held
        self.held_here = 0  # bytes of the rows in self.files / self.instances
        self.app_id = app_id
        self.flush = flush
        self.lander: Lander | None = None
        self.backlog = True  # files stored before this start may not be landed: scan storage first
        self.files: list[dict] = []
        self.instances: list[dict] = []
        self.sources: list[str] = []
        self.first_at: float | None = None
        self.retry_at = 0.0
        self.busy_since: float | None = None
        self.landed = threading.Event()  # set after every successful landing (tests wait on it)

    def run(self) -> None:
        self._try_land(0.0)  # what the last run stored but did not land, before anything new
        stopping = False
        while True:
            timeout = 1.0 if self.first_at is None else max(0.05, self.first_at + self.flush - time.monotonic())
            try:
                item = self.rows.get(timeout=min(timeout, 1.0))
                if item is _STOP:
                    stopping = True
                else:
                    self._keep(item)
            except queue.Empty:
                pass
            if self.held.overflow.is_set():
                self.held.overflow.clear()
                self._drop_to_backlog()
            now = time.monotonic()
            due = self.first_at is not None and (
                now - self.first_at >= self.flush
                or len(self.files) >= MAX_BATCH_FILES
                or self.held_here >= MAX_BATCH_BYTES
            )
            if (due or self.backlog or stopping) and now >= self.retry_at and (self.files or self.backlog):
                self._try_land(STOP_WAIT_SECONDS if stopping else 0.0)
            if stopping:
                if self.files or self.backlog:
                    log.warning("stopping with received files not landed yet: the next start lands them")
                if self.lander is not None:
                    self.lander.close()
                return

    def _source_of(self, path: str) -> str:
        """``dicom:<calling AE folder>`` of a stored file (its first folder below storage)."""
        parts = Path(path).relative_to(self.storage).parts
        return f"dicom:{parts[0]}" if len(parts) > 1 else "dicom:UNKNOWN"

    def _keep(self, item: tuple[dict, dict | None, str, int]) -> None:
        frow, irow, source, size = item
        if self.backlog:
            self.held.give_back(size)
            return  # a scan of storage will land it
        self.held_here += size
        self.files.append(frow)
        self.sources.append(source)
        if irow is not None:
            self.instances.append(irow)
        if self.first_at is None:
            self.first_at = time.monotonic()
        if len(self.files) > MAX_BATCH_FILES:
            # The lake has been busy a while: stop holding rows, land from the stored files later.
            self._drop_to_backlog()

    def _forget(self) -> None:
        """Let go of the rows held here (landed, or left to a scan of storage)."""
        self.files, self.instances, self.sources, self.first_at = [], [], [], None
        self.held.give_back(self.held_here)
        self.held_here = 0

    def _drop_to_backlog(self) -> None:
        self._forget()
        self.backlog = True

    def _try_land(self, wait: float) -> None:
        try:
            with ingest_lock(self.settings, timeout=wait):
                if self.busy_since is not None:
                    log.info("the lake is free again after %.0f s: landing", time.monotonic() - self.busy_since)
                    self.busy_since = None
                self._land()
        except IngestLockBusy:
            if self.busy_since is None:
                self.busy_since = time.monotonic()
                log.info("another DICOM ingest holds the lake: receiving goes on, landing waits")
        except Exception:
            log.exception("landing received files failed; they stay stored and are landed on the next try")
            if self.lander is not None:
                with contextlib.suppress(Exception):
                    self.lander.abort()
                self.lander = None
            self._drop_to_backlog()
            self.retry_at = time.monotonic() + RETRY_SECONDS

    def _land(self) -> None:
        if self.backlog:
            # Everything queued is on disk already: one scan lands it all (and what a crash left).
            self._forget()
            self.backlog = False
            report = land_unlanded(self.settings, [self.storage], source=self._source_of)
            if report.files_new:
                log.info("landed %d stored files from %s", report.files_new, self.storage)
        if self.lander is None:
            self.lander = Lander(
                self.settings,
                load_state(self.settings),
                app_id=self.app_id,
                batch_files=MAX_BATCH_FILES,
                batch_bytes=MAX_BATCH_BYTES,
                timezone=self.settings.timezone,
            )
        lander = self.lander
        # Folder ingests (and the scan above) may have landed some of these meanwhile.
        lander.catch_up()
        keep = [i for i, f in enumerate(self.files) if not lander.state.is_landed(f["file_path"])]
        if keep:
            files = [self.files[i] for i in keep]
            paths = {f["file_path"] for f in files}
            instances = [r for r in self.instances if r["file_path"] in paths]
            lander.add(rows_to_chunk(files, instances, []), [self.sources[i] for i in keep])
            lander.commit_now()
            lander.mark_seen()
        self._forget()
        self.landed.set()


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


def _write_metrics(metrics: ReceiverMetrics, path: Path) -> None:
    try:
        metrics.write(path)
    except OSError as exc:
        log.warning("could not write the receiver's metrics to %s: %s", path, exc.strerror or type(exc).__name__)


def tls_context(tls: ReceiverTLS) -> ssl.SSLContext:
    """The server-side TLS context: TLS 1.2 or later; peers need a certificate from ``tls.ca`` when set.

    Raises
    ------
    radlake.errors.ConfigError
        A certificate or key file cannot be read or does not match.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
        if tls.ca is not None:
            ctx.load_verify_locations(cafile=str(tls.ca))
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"dicom.receiver.tls: {getattr(exc, 'strerror', None) or exc}") from None
    return ctx


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
    metrics: ReceiverMetrics | None = None,
) -> None:
    """Serve C-STORE until ``stop_event`` is set (see :func:`ingestion.dicom.api.listen`).

    The counters in ``metrics`` (a new one when None) are written every few seconds to
    ``<state_dir>/metrics/dicom-receiver-<port>.prom``.

    Raises
    ------
    radlake.errors.SourceUnreachableError
        The port cannot be bound.
    radlake.errors.ConfigError
        The TLS files cannot be used.
    """
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    rec = settings.dicom.receiver
    lake.ensure_writable(settings)
    storage = storage.resolve()
    storage.mkdir(parents=True, exist_ok=True)
    incoming = storage / INCOMING
    cleared = clear_incoming(incoming)
    if cleared:
        log.info("removed %d partial data sets left by the last run (never acknowledged)", cleared)
    ssl_context = tls_context(rec.tls) if rec.tls is not None else None

    metrics = metrics or ReceiverMetrics()
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = rec.acse_timeout
    ae.dimse_timeout = rec.dimse_timeout
    ae.network_timeout = rec.network_timeout
    admission = admit(
        ae, AdmissionLimits(rec.max_associations, rec.max_associations_per_host, rec.max_unassociated), metrics
    )
    ae.maximum_pdu_size = rec.max_pdu_bytes
    ae.require_called_aet = True  # answer only associations addressed to this AE title
    ae.require_calling_aet = list(rec.allowed_calling_aets)  # empty: any
    guard_ae(ae, NetLimits(rec.max_pdu_bytes, rec.max_instance_bytes), incoming)
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    # Bounded: parsed rows (header_json included) never pile up while the lake is busy; past the bound the
    # stored files are landed by a scan of storage instead.
    rows: queue.Queue = queue.Queue(maxsize=MAX_BATCH_FILES)
    held = _Held(MAX_HELD_BYTES)
    store = _Store(settings, storage, rows, held, metrics)
    handlers: list[EventHandlerType] = [
        *admission,
        (evt.EVT_C_STORE, store.handle_store),
        (evt.EVT_CONN_CLOSE, lambda event: discard_partial(event.assoc)),
        (evt.EVT_ABORTED, lambda event: discard_partial(event.assoc)),
    ]
    try:
        server = ae.start_server((host, port), block=False, evt_handlers=handlers, ssl_context=ssl_context)
    except OSError as exc:
        raise SourceUnreachableError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    assert server is not None  # block=False always returns the server
    bound = server.server_address[1]
    if not rec.allowed_calling_aets:
        log.warning(
            "dicom.receiver.allowed_calling_aets is empty: any peer that reaches port %d can store instances; "
            "list the calling AE titles of your modalities and PACS",
            bound,
        )
    landing = _Landing(settings, storage, rows, held, receiver_app_id(ae_title, bound), flush_seconds)
    failed: list[BaseException] = []

    def run_landing() -> None:
        try:
            landing.run()
        except BaseException as exc:  # only a bug gets here: _Landing retries lake errors itself
            failed.append(exc)

    thread = threading.Thread(target=run_landing, name="dicom-landing", daemon=True)
    thread.start()
    log.info(
        "listening as %s on %s:%d%s, storing into %s", ae_title, host, bound, " (TLS)" if ssl_context else "", storage
    )
    metrics_file = settings.state_dir / "metrics" / f"dicom-receiver-{bound}.prom"
    try:
        if ready is not None:
            ready(bound)
        written = 0.0
        while not stop_event.wait(0.5):
            if not thread.is_alive():
                break
            if time.monotonic() - written >= METRICS_SECONDS:
                _write_metrics(metrics, metrics_file)
                written = time.monotonic()
    finally:
        _write_metrics(metrics, metrics_file)
        server.shutdown()  # stops accepting; associations in progress run to their end
        _drain_associations(server, timeout=30.0)
        rows.put(_STOP)  # after the last association: every stored instance is queued before it
        thread.join()
        if failed:
            raise failed[0]
