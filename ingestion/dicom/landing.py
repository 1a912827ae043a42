"""Classify parsed files (instance, duplicate, conflict, reject) and commit them to bronze in batches.

Each batch is two Delta commits, ``bronze/dicom_instances`` first and ``bronze/dicom_files`` second, each
tagged with a Delta app transaction (app id, batch number) so a retried commit is a no-op. What makes a
crash harmless is the classification: it starts from what the tables hold, and a file is skipped only
once its ``dicom_files`` row is committed. A crash between the two commits leaves instance rows without
file rows; on the re-run such a file (same SOP Instance UID, same checksum, same path) comes out as the
same ``instance`` row again, without a second instance row. So a re-run after a crash at any point gives
the tables of a clean run.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa

from ingestion.dicom.landing_index import LandingIndex
from ingestion.dicom.workers import INSTANCE_SCHEMA, ParsedChunk
from radlake import catalog
from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake import Lake

FILES = catalog.table("bronze", "dicom_files")
INSTANCES = catalog.table("bronze", "dicom_instances")

assert FILES.schema is not None, "bronze/dicom_files has a fixed schema in the catalog"
FILES_SCHEMA = FILES.schema
"""bronze/dicom_files (the catalog's): one row per file seen; ``landed_sha256`` is the checksum of the instance a
duplicate or conflict collides with (the file's own is ``sha256``)."""

OUTCOMES = catalog.FILE_OUTCOMES

BATCH_BYTES = 64 << 20
"""Default bytes of parsed rows per batch: with one batch committing and one filling, about twice this is held."""


@dataclass
class _Batch:
    """Paths and instances one batch classified, looked up here until the index has read its commits."""

    paths: set[str] = field(default_factory=set)
    sops: dict[str, str] = field(default_factory=dict)


class LandedState:
    """What the lake already holds: the on-disk :class:`~ingestion.dicom.landing_index.LandingIndex`, plus what
    this writer classified in batches whose commits the index has not read yet (at most a few batches: memory
    follows the batch size, not the lake).

    Parameters
    ----------
    index
        The lake's landing index, caught up.
    """

    def __init__(self, index: LandingIndex) -> None:
        self.index = index
        self._batches = [_Batch()]
        # The index's answers for the chunk being classified (see prefetch): key sets asked, answers found.
        self._asked: tuple[set[str], set[str]] = (set(), set())
        self._shas: dict[str, str | None] = {}
        self._pending: dict[str, str] = {}

    def _in_batches(self, path: str) -> bool:
        return any(path in b.paths for b in self._batches)

    def is_landed(self, path: str) -> bool:
        """Whether the file at ``path`` has been classified (it has, or is about to get, a ``dicom_files`` row)."""
        return self._in_batches(path) or self.index.path_known(path)

    def landed_among(self, paths: Sequence[str]) -> set[str]:
        """Those of ``paths`` that :meth:`is_landed`, asking the index in a few queries."""
        held = {p for p in paths if self._in_batches(p)}
        return held | self.index.known_paths([p for p in paths if p not in held])

    def prefetch(self, paths: Sequence[str], uids: Sequence[str]) -> None:
        """Ask the index about a chunk's paths and SOP Instance UIDs at once, for :meth:`sop_sha` and
        :meth:`pending_uid` (valid until the index catches up: the lander prefetches per chunk)."""
        self._asked = (set(uids), set(paths))
        self._shas = self.index.sop_shas(uids)
        self._pending = self.index.pending_uids(paths)

    def forget_prefetch(self) -> None:
        """Drop what :meth:`prefetch` read (the index is about to change)."""
        self._asked, self._shas, self._pending = (set(), set()), {}, {}

    def sop_sha(self, uid: str) -> str | None:
        """Checksum of the landed (or about to be landed) instance with this SOP Instance UID, or None."""
        for b in reversed(self._batches):
            sha = b.sops.get(uid)
            if sha is not None:
                return sha
        if uid in self._asked[0]:
            return self._shas.get(uid)
        return self.index.sop_sha(uid)

    def pending_uid(self, path: str) -> str | None:
        """SOP Instance UID of an instance row at ``path`` left without its ``dicom_files`` row by a crash."""
        if self._in_batches(path):
            return None
        if path in self._asked[1]:
            return self._pending.get(path)
        return self.index.pending_uid(path)

    def classified(self, path: str, uid: str | None = None, sha: str | None = None) -> None:
        """Record a classified file (and the instance it lands, if any) in the batch being filled."""
        batch = self._batches[-1]
        batch.paths.add(path)
        if uid is not None and sha is not None:
            batch.sops[uid] = sha

    def seal_batch(self) -> None:
        """The batch being filled was handed to the committer: later files go to a new one."""
        self._batches.append(_Batch())

    def batches_landed(self, n: int) -> None:
        """The oldest ``n`` sealed batches are committed: read them into the index and stop holding them."""
        self.forget_prefetch()
        self.index.catch_up()
        del self._batches[:n]

    def catch_up(self) -> None:
        """Read what other writers committed meanwhile."""
        self.forget_prefetch()
        self.index.catch_up()


def ensure_tables(settings: Settings) -> None:
    """Create the empty DICOM bronze tables when nothing has landed yet.

    A backfill of days before any file arrived lands nothing; the roll-ups and marts downstream then read
    empty tables instead of failing on missing ones.
    """
    lake = Lake(settings)
    for spec in (FILES, INSTANCES):
        lake.table(spec).create()


def landed_among(settings: Settings, paths: Iterable[str]) -> set[str]:
    """Which of ``paths`` have a ``bronze/dicom_files`` row, read without loading every landed path."""
    return Lake(settings).table(FILES).values_present("file_path", paths)


def load_state(settings: Settings) -> LandedState:
    """The lake's landed state: its landing index (in the state folder), caught up with bronze."""
    index = LandingIndex(settings)
    index.catch_up()
    return LandedState(index)


@dataclass
class BatchCounts:
    """Files per outcome in what was classified."""

    instance: int = 0
    duplicate: int = 0
    conflict: int = 0
    reject: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in OUTCOMES}


class Lander:
    """Classifies parsed chunks against the landed state and commits full batches (in a background thread).

    Parameters
    ----------
    settings
        Where the lake is.
    state
        From :func:`load_state`; updated as files are classified.
    app_id
        The Delta app transaction id of this writer (folder ingest and each receiver have their own).
    batch_files
        Files per batch (one commit per table per batch).
    batch_bytes
        A batch is committed once its rows hold this many bytes, however few files it has (headers of
        hostile or very large instances).
    timezone
        Zone of the ``ingest_date`` partition (the hospital's local day).
    """

    def __init__(
        self,
        settings: Settings,
        state: LandedState,
        *,
        app_id: str,
        batch_files: int = 5000,
        batch_bytes: int = BATCH_BYTES,
        timezone: str = "UTC",
    ) -> None:
        self.settings = settings
        self.state = state
        self.app_id = app_id
        self.batch_files = batch_files
        self.batch_bytes = batch_bytes
        self._pending_bytes = 0
        self.zone = ZoneInfo(timezone)
        self.counts = BatchCounts()
        self.batches_committed = 0
        self._files: list[pa.RecordBatch] = []
        self._instances: list[pa.RecordBatch] = []
        self._pending_rows = 0
        lake = Lake(settings)
        self._files_table, self._instances_table = lake.table(FILES), lake.table(INSTANCES)
        done = [t.committed_version(app_id) for t in (self._files_table, self._instances_table)]
        self._txn = max((v for v in done if v is not None), default=0)
        self._settled = 0  # batches committed that the landed state's index has read
        self._queue: queue.Queue[tuple[pa.Table, pa.Table] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._aborted = False
        self._failed = False
        self._thread = threading.Thread(target=self._commit_loop, name="dicom-lander", daemon=True)
        self._thread.start()

    # --- classification -------------------------------------------------------------------------------

    def add(self, chunk: ParsedChunk, source: str | Sequence[str]) -> None:
        """Classify a chunk's files in order and queue them; commits when a batch is full.

        Parameters
        ----------
        chunk
            Parsed files (from :func:`ingestion.dicom.workers.parse_paths`).
        source
            Where the files came from (``folder``, ``dicom:<calling AE>``), one for all or one per file row.
        """
        self._raise_if_failed()
        files = chunk.files
        n = files.num_rows
        if n == 0:
            return
        paths = files.column("file_path").to_pylist()
        shas = files.column("sha256").to_pylist()
        parsed = files.column("parsed").to_pylist()
        uids = files.column("sop_instance_uid").to_pylist()
        reasons = files.column("reason").to_pylist()
        outcomes: list[str] = []
        landed: list[str | None] = []
        keep: list[bool] = []
        self._settle()
        st = self.state
        st.prefetch(paths, [u for u, ok in zip(uids, parsed, strict=True) if ok])
        for i, (path, sha, ok, uid) in enumerate(zip(paths, shas, parsed, uids, strict=True)):
            other: str | None = None
            if not ok:
                outcome = "reject"
                st.classified(path)
            else:
                have = st.sop_sha(uid)
                if have is None:
                    outcome = "instance"
                    st.classified(path, uid, sha)
                    keep.append(True)
                elif have == sha and st.pending_uid(path) == uid:
                    outcome = "instance"  # landed by a batch whose dicom_files commit did not happen
                    st.classified(path)
                    keep.append(False)
                elif have == sha:
                    outcome, other = "duplicate", have
                    st.classified(path)
                    keep.append(False)
                else:
                    outcome, other = "conflict", have
                    reasons[i] = "same SOP Instance UID as a landed instance, different bytes (see landed_sha256)"
                    st.classified(path)
                    keep.append(False)
            outcomes.append(outcome)
            landed.append(other)
            self.counts.add(outcome)
        sources = [source] * n if isinstance(source, str) else list(source)
        file_rows = pa.RecordBatch.from_arrays(
            [
                files.column("file_path"),
                files.column("file_size"),
                files.column("file_mtime"),
                files.column("sha256"),
                pa.array(outcomes, pa.string()),
                files.column("sop_instance_uid"),
                pa.array(reasons, pa.string()),
                pa.array(landed, pa.string()),
                pa.array(sources, pa.string()),
            ],
            names=[f.name for f in FILES_SCHEMA][:9],
        )
        self._files.append(file_rows)
        if any(keep):
            self._instances.append(chunk.instances.filter(pa.array(keep, pa.bool_())))
        self._pending_rows += n
        self._pending_bytes += file_rows.nbytes + (self._instances[-1].nbytes if any(keep) else 0)
        if self._pending_rows >= self.batch_files or self._pending_bytes >= self.batch_bytes:
            self.flush()

    # --- commits ----------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand the classified files to the committer as one batch (nothing when none are waiting)."""
        self._raise_if_failed()
        if not self._files:
            return
        files = pa.Table.from_batches(self._files)
        instances = (
            pa.Table.from_batches(self._instances)
            if self._instances
            else pa.Table.from_batches([], schema=INSTANCE_SCHEMA)
        )
        self._files, self._instances, self._pending_rows, self._pending_bytes = [], [], 0, 0
        self.state.seal_batch()
        self._queue.put((files, instances))
        self._raise_if_failed()

    def commit_now(self) -> None:
        """Commit what is waiting and return once it is in the lake; raises what a commit raised."""
        self.flush()
        self._queue.join()
        self._raise_if_failed()

    def catch_up(self) -> None:
        """Bring the landed state up to bronze (call under :func:`ingest_lock`): a long-lived writer must not
        land an instance another writer landed meanwhile."""
        self._settle()
        self.state.catch_up()

    def mark_seen(self) -> None:
        """Read this writer's own committed batches into the landed state (call after :meth:`commit_now`)."""
        self._settle()

    def _settle(self) -> None:
        """Let the index read the batches committed since the last look (the in-memory part then shrinks)."""
        done = self.batches_committed - self._settled
        if done > 0:
            self.state.batches_landed(done)
            self._settled += done

    def close(self) -> None:
        """Commit what is left and stop the committer; raises what a commit raised."""
        try:
            self.flush()
        finally:
            self._queue.put(None)
            self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop the committer without committing what is queued (after a failure elsewhere).

        A commit already running finishes; that is safe, see the module docstring.
        """
        self._aborted = True
        self._files, self._instances, self._pending_rows, self._pending_bytes = [], [], 0, 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _commit_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._failed or self._aborted:
                    continue  # drain: commits stay a prefix of the batches, nothing after a failed one
                self._commit(*item)
            except BaseException as exc:
                self._failed = True
                self._error = exc
            finally:
                self._queue.task_done()

    def _commit(self, files: pa.Table, instances: pa.Table) -> None:
        now = datetime.now(UTC)
        day = now.astimezone(self.zone).date()
        self._txn += 1
        self.commit_instances(_stamp_instances(instances, now, day), self._txn)
        self.commit_files(_stamp_files(files, now, day), self._txn)
        self.batches_committed += 1

    def commit_instances(self, table: pa.Table, txn: int) -> None:
        """Append a batch's new instances (the first of its two commits)."""
        if table.num_rows or not self._instances_table.exists():
            self._instances_table.append(table, app_id=self.app_id, txn_version=txn)

    def commit_files(self, table: pa.Table, txn: int) -> None:
        """Append a batch's file rows (the second commit: after it, the files count as landed)."""
        self._files_table.append(table, app_id=self.app_id, txn_version=txn)


def _micros(moment: datetime) -> int:
    # Arrow converts tz-aware datetimes through pandas (a 1 s import); integers go straight in.
    return int(moment.timestamp() * 1_000_000)


def _stamp_files(files: pa.Table, now: datetime, day: date) -> pa.Table:
    n = files.num_rows
    files = files.append_column("first_seen_at", pa.array([_micros(now)] * n, pa.timestamp("us", tz="UTC")))
    files = files.append_column("ingest_date", pa.array([day] * n, pa.date32()))
    return files.cast(FILES_SCHEMA)


def _stamp_instances(instances: pa.Table, now: datetime, day: date) -> pa.Table:
    n = instances.num_rows
    instances = instances.append_column("ingested_at", pa.array([_micros(now)] * n, pa.timestamp("us", tz="UTC")))
    return instances.append_column("ingest_date", pa.array([day] * n, pa.date32()))


class IngestLockBusy(LakeError):
    """Another DICOM ingest of this lake holds the lock."""


@contextmanager
def ingest_lock(settings: Settings, timeout: float = 600.0) -> Iterator[None]:
    """Hold the lake's DICOM folder-ingest lock (a file lock in ``settings.state_dir``).

    Two folder ingests of one lake must not classify against the same landed state at once (both would
    land the same new instance). A second ingest waits for the first. The receiver asks with ``timeout=0``
    and keeps receiving (and storing) while the lock is busy.

    Raises
    ------
    IngestLockBusy
        The lock was not free within ``timeout`` seconds.
    """
    from radlake.private import state_folder

    path = state_folder(settings) / "dicom-ingest.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IngestLockBusy(f"another DICOM ingest of this lake is running (lock {path})") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock
