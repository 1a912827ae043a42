"""What has landed in DICOM bronze, kept on disk in the state folder: memory stays flat as the archive grows.

The index is a SQLite file (``dicom-landing.sqlite`` under ``settings.state_dir``, write-ahead log on)
with three keyed tables:

- ``paths``: file path → checksum of every ``bronze/dicom_files`` row (the file was seen and classified);
- ``sops``: SOP Instance UID → checksum of the landed instance (``bronze/dicom_instances``);
- ``pending``: path → SOP Instance UID of instance rows whose ``dicom_files`` row is missing (a crash between
  a batch's two commits, see :mod:`ingestion.dicom.landing`).

It is a cache of bronze, never the truth. It records the version of each table it has read and catches up
by reading only the files the newer commits added (from the Delta log, see :func:`radlake.lake.added_after`).
It scans the whole table again when the log cannot answer: cleaned past that version, a commit that removed
rows, or a table created anew. Each catch-up is one SQLite transaction (rows and versions together), so a
process killed at any point leaves either the old or the new state, and the next catch-up makes it current.
Folder ingests, the receiver and the distributed backfill of one lake share the file (their writers are
serialised by :func:`ingestion.dicom.landing.ingest_lock`; SQLite serialises the catch-ups themselves).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake

FILES = catalog.table("bronze", "dicom_files")
INSTANCES = catalog.table("bronze", "dicom_instances")

_KEYED = ("paths", "sops", "pending")

LOOKUP_BATCH = 500
"""Keys per query of the many-key lookups (SQLite allows 32,766 parameters; a few hundred is as fast)."""

CACHE_KIB = 64 << 10
"""SQLite page cache per connection (KiB): the index's whole share of memory, whatever the lake holds."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS paths (path TEXT PRIMARY KEY, sha TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sops (uid TEXT PRIMARY KEY, sha TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (path TEXT PRIMARY KEY, uid TEXT NOT NULL) WITHOUT ROWID;
"""


def index_path(settings: Settings) -> Path:
    """The index file of the lake's DICOM bronze. It records the tables' Delta ids: an index left by another
    lake (or a table created anew) is rebuilt, while a copy of the lake with its state folder keeps its index."""
    return settings.state_dir / "dicom-landing.sqlite"


class LandingIndex:
    """The on-disk index of landed DICOM files and instances; :meth:`catch_up` brings it to bronze's state.

    Parameters
    ----------
    settings
        Where the lake and the state folder are.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = index_path(settings)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tables = {spec.key: Lake(settings).table(spec) for spec in (FILES, INSTANCES)}
        # One connection, used under a lock: the lander's classifying thread and the receiver's may differ.
        self._db = sqlite3.connect(self.path, timeout=600, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a kill -9 loses nothing committed; power loss
        # may lose the last catch-ups, which the next one redoes from the log.
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.executescript(_SCHEMA)
        self._checked = False

    # --- lookups ------------------------------------------------------------------------------------------

    def path_known(self, path: str) -> bool:
        """Whether ``path`` has a ``bronze/dicom_files`` row (as of the last catch-up)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM paths WHERE path=?", (path,)).fetchone() is not None

    def sop_sha(self, uid: str) -> str | None:
        """The checksum of the landed instance with this SOP Instance UID, or None."""
        with self._lock:
            row = self._db.execute("SELECT sha FROM sops WHERE uid=?", (uid,)).fetchone()
        return None if row is None else row[0]

    def pending_uid(self, path: str) -> str | None:
        """The SOP Instance UID of an instance row at ``path`` whose ``dicom_files`` row is missing, or None."""
        with self._lock:
            row = self._db.execute("SELECT uid FROM pending WHERE path=?", (path,)).fetchone()
        return None if row is None else row[0]

    def known_paths(self, paths: Sequence[str]) -> set[str]:
        """Which of ``paths`` have a ``bronze/dicom_files`` row: :meth:`path_known` for many, in few queries."""
        return {r[0] for r in self._lookup("SELECT path FROM paths WHERE path IN ({})", paths)}

    def sop_shas(self, uids: Sequence[str]) -> dict[str, str | None]:
        """:meth:`sop_sha` of each of ``uids`` that has landed, in few queries."""
        return dict(self._lookup("SELECT uid, sha FROM sops WHERE uid IN ({})", uids))

    def pending_uids(self, paths: Sequence[str]) -> dict[str, str]:
        """:meth:`pending_uid` of each of ``paths`` that has one, in few queries."""
        return dict(self._lookup("SELECT path, uid FROM pending WHERE path IN ({})", paths))

    def _lookup(self, sql: str, keys: Sequence[str]) -> list[Any]:
        # One query per LOOKUP_BATCH keys: a query per key was a sixth of a folder ingest's CPU (issue 30).
        found: list[Any] = []
        with self._lock:
            for i in range(0, len(keys), LOOKUP_BATCH):
                part = keys[i : i + LOOKUP_BATCH]
                found += self._db.execute(sql.format(",".join("?" * len(part))), part).fetchall()
        return found

    def counts(self) -> dict[str, int]:
        """Rows per keyed table (for benchmarks and tests)."""
        with self._lock:
            return {t: self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _KEYED}

    def rows(self, table: str) -> list[tuple[str, str | None]]:
        """Every (key, value) row of one keyed table (``paths``, ``sops``, ``pending``), in key order (tests)."""
        if table not in _KEYED:
            raise ValueError(f"no keyed table {table!r} in the landing index")
        with self._lock:
            return self._db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()

    # --- catching up --------------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Read what bronze committed since the versions recorded here (all of it the first time)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one catch-up at a time across processes
            try:
                meta = dict(self._db.execute("SELECT k, v FROM meta").fetchall())
                # The tables' identities once per open (a table created anew restarts its versions).
                rebuild = self._identity_changed(meta) if not self._checked or not meta else False
                if not rebuild:
                    rebuild = not self._read_commits(meta)
                if rebuild:
                    self._rebuild()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._checked = True
        if rebuild:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a rebuild's log is as big as the index

    def _identity_changed(self, meta: dict[str, str]) -> bool:
        """Whether a table was created anew (or removed) since the index read it: then nothing here holds."""
        for key, table in self._tables.items():
            ident = table.identity()
            have_id, have_version = meta.get(f"{key}:id"), int(meta.get(f"{key}:version", "-1"))
            if ident is None:
                if have_version >= 0:
                    return True
                continue
            if have_id is not None and (have_id != ident.table_id or ident.version < have_version):
                return True
            if have_id is None and have_version >= 0:
                return True
        return False

    def _read_commits(self, meta: dict[str, str]) -> bool:
        """Apply the commits after the recorded versions; False when the log cannot answer (rescan)."""
        # dicom_files first: a pending row is only made for a path without a file row.
        for spec in (FILES, INSTANCES):
            table = self._tables[spec.key]
            seen = int(meta.get(f"{spec.key}:version", "-1"))
            if seen < 0 and table.identity() is not None:
                return False  # never read: a scan of the snapshot beats replaying every commit
            got = table.added_after(seen)
            if got is None:
                return False
            version, files = got
            if version == seen:
                continue
            self._apply(spec.key, table.scan_batches(_columns(spec.key), files=files))
            self._set(f"{spec.key}:version", str(version))
        return True

    def _rebuild(self) -> None:
        """Empty the index and read both tables whole (streamed: memory follows a batch, not the table)."""
        for name in ("meta", "paths", "sops", "pending"):
            self._db.execute(f"DELETE FROM {name}")
        for spec in (FILES, INSTANCES):
            table = self._tables[spec.key]
            ident = table.identity()
            if ident is None:
                continue
            # The version before the scan: commits made during it are read again by the next catch-up
            # (applying a row twice changes nothing).
            self._set(f"{spec.key}:id", ident.table_id)
            self._set(f"{spec.key}:version", str(ident.version))
            self._apply(spec.key, table.scan_batches(_columns(spec.key)))

    def _apply(self, key: str, batches: Iterable[pa.RecordBatch]) -> None:
        db = self._db
        if key == FILES.key:
            has_pending = db.execute("SELECT 1 FROM pending LIMIT 1").fetchone() is not None
            for batch in batches:
                paths, shas = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                db.executemany("INSERT OR REPLACE INTO paths VALUES (?, ?)", zip(paths, shas, strict=True))
                if has_pending:
                    db.executemany("DELETE FROM pending WHERE path=?", ((p,) for p in paths))
            return
        for batch in batches:
            uids, shas, paths = (batch.column(i).to_pylist() for i in range(3))
            db.executemany("INSERT OR REPLACE INTO sops VALUES (?, ?)", zip(uids, shas, strict=True))
            db.executemany(
                "INSERT OR REPLACE INTO pending SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM paths WHERE path=?1)",
                zip(paths, uids, strict=True),
            )

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        """Close the file (the index stays for the next run)."""
        with self._lock:
            self._db.close()


def _columns(key: str) -> list[str]:
    if key == FILES.key:
        return ["file_path", "sha256"]
    return ["sop_instance_uid", "file_sha256", "file_path"]
