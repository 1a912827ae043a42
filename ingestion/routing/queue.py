"""The durable routing queue: an append-only log of state changes in ``audit/routing_queue``, and a journal.

Every state change of an (instance, destination) pair is a row; the newest row of a pair is its state
(:func:`load_states`). Each writer commits under its own Delta app id with increasing batch numbers, so a
retried commit is a no-op (:meth:`radlake.lake.Table.append`).

Exactly once per destination: a sender appends each peer answer to a per-destination journal file the moment
it arrives (an ``O_APPEND`` write survives a kill -9; the page cache holds it), and commits the batch's rows to
the lake under the batch number written at the journal's head. One journal file per batch: a batch's rows commit
while the next batch is sent, so a kill can leave two. After a crash every journal is committed first, in batch
order (under its own number: a no-op when the commit had happened), so nothing the peer acknowledged is sent
again. With DCMTK storescu as the transport (plain DICOM peers), storescu's own log is the journal of answers
(it writes each status before it sends the next file), and storescu runs in its own session: a kill -9 of the
router leaves the batch to finish, and the next start waits for it and commits what its log says, so a kill of
the router alone sends nothing twice (two storescu batches may be in flight: the next one starts while the last
one ends; each has its own journal file and log, committed in batch order). What stays open is the C-STORE
protocol's own window: when the process that holds the association dies (pynetdicom inside the router, or
storescu itself, or the machine) between an instance's data going out and its status coming back, that
instance is sent again, since C-STORE has no
idempotency handshake and a peer without storage commitment (storescp has none) cannot be asked whether it
arrived; it is flagged in its ``last_error`` (the journal records each instance as it goes out), so a possible
second copy at the peer is known, never silent. The journal is written without fsync: it survives a killed
process, not a lost machine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake

SPEC = catalog.table("audit", "routing_queue")
assert SPEC.schema is not None
SCHEMA = SPEC.schema
WAITING = ("queued", "retry")
_ORDER = {"queued": 0, "retry": 1, "sent": 2, "dead": 3}  # same event time: the later state wins


def now_micros() -> int:
    """Now, as microseconds since the epoch (what the table's timestamps take)."""
    return time.time_ns() // 1000


class QueueLog:
    """Commits rows of ``audit/routing_queue`` for one writer (one app id, one batch number after another)."""

    def __init__(self, settings: Settings, app_id: str) -> None:
        self.settings = settings
        self.app_id = app_id
        self.table = Lake(settings).table(SPEC)
        self.txn = self.table.committed_version(app_id) or 0

    def commit(self, rows: list[dict], txn: int | None = None) -> int:
        """Append ``rows`` as one commit (batch ``txn``, default the next); returns the batch number used."""
        if txn is None:
            txn = self.txn + 1
        # Arrow builds the columns (about ten times faster than the lake's row-by-row conform of any rows:
        # these rows are the router's own, with the queue's columns and types).
        self.table.append(pa.Table.from_pylist(rows, schema=SCHEMA), app_id=self.app_id, txn_version=txn)
        self.txn = max(self.txn, txn)
        return txn


def load_states(settings: Settings, destination: str | None = None) -> dict[tuple[str, str], dict]:
    """The newest row of every (instance, destination) pair (of one destination when given)."""
    table = Lake(settings).table(SPEC).read_arrow()
    if table is None:
        return {}
    if destination is not None:
        table = table.filter(pc.equal(table["destination"], destination))
    out: dict[tuple[str, str], dict] = {}
    for row in table.to_pylist():
        key = (row["sop_instance_uid"], row["destination"])
        have = out.get(key)
        if have is None or (row["event_at"], _ORDER[row["state"]]) >= (have["event_at"], _ORDER[have["state"]]):
            out[key] = row
    return out


class Journal:
    """The answers of one destination's batches, on disk before they reach the lake (see the module).

    One file per batch (``<destination hash>.<batch number>.journal``): while one batch's rows commit, the
    next batch is already being sent and journaled, so two batches may be open at once.
    """

    def __init__(self, folder: Path, destination: str) -> None:
        import hashlib

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.stem = hashlib.sha256(destination.encode()).hexdigest()[:16]
        self._fds: dict[int, int] = {}
        self._fd: int | None = None  # the batch being sent

    def path(self, txn: int) -> Path:
        """The journal file of batch ``txn``."""
        return self.folder / f"{self.stem}.{txn}.journal"

    def begin(self, txn: int) -> None:
        """Start a batch that will be committed as batch ``txn``; its answers are recorded from now on."""
        self._fd = os.open(self.path(txn), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._fds[txn] = self._fd
        os.write(self._fd, (json.dumps({"txn": txn}) + "\n").encode())

    def record(self, row: dict) -> None:
        """One answer, written at once (one ``write`` call: whole or absent after a kill)."""
        assert self._fd is not None
        os.write(self._fd, (json.dumps(row, default=str) + "\n").encode())

    def end(self, txn: int) -> None:
        """Batch ``txn`` is committed: forget it."""
        fd = self._fds.pop(txn, None)
        if fd is not None:
            os.close(fd)
            if fd == self._fd:
                self._fd = None
        self.path(txn).unlink(missing_ok=True)

    def record_try(self, sop_instance_uid: str) -> None:
        """An instance is about to go out (after a kill, the last one without an answer was in flight)."""
        assert self._fd is not None
        os.write(self._fd, (json.dumps({"try": sop_instance_uid}) + "\n").encode())

    def record_storescu(self, log: Path, config: Path, paths: dict[str, str]) -> None:
        """The batch goes out through storescu: its log (the peer's answers) and the files it sends
        (path → SOP Instance UID), so that the next start reads the answers a killed run never committed."""
        assert self._fd is not None
        os.write(self._fd, (json.dumps({"storescu": str(log), "config": str(config), "paths": paths}) + "\n").encode())

    def leftovers(self) -> list[Leftover]:
        """What a crashed run journaled and may not have committed, batch by batch in their order."""
        out = []
        # <stem>.journal: the one journal file of routers before one file per batch.
        for path in [self.folder / f"{self.stem}.journal", *self.folder.glob(f"{self.stem}.*.journal")]:
            left = _leftover(path)
            if left is not None:
                out.append(left)
            elif path.exists():
                path.unlink(missing_ok=True)  # empty: killed before its first line
        return sorted(out, key=lambda left: left.txn)


def _leftover(path: Path) -> Leftover | None:
    """One journal file: its batch number, its rows, the instance that was in flight (sent, no answer yet),
    if any, and its storescu batch, if any."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return None
    try:
        txn = int(json.loads(lines[0])["txn"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None  # killed while writing its first line: nothing was sent under it
    rows: list[dict] = []
    in_flight: str | None = None
    storescu: dict | None = None
    for line in lines[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            break  # a torn last line: that answer never fully reached the journal
        if "try" in entry:
            in_flight = entry["try"]
        elif "storescu" in entry:
            storescu = entry
        else:
            rows.append(entry)
            if entry.get("sop_instance_uid") == in_flight:
                in_flight = None
    return Leftover(txn, rows, in_flight, storescu, path)


@dataclass(frozen=True)
class Leftover:
    """A batch a crashed run journaled: see :meth:`Journal.leftover`."""

    txn: int
    rows: list[dict]
    in_flight: str | None
    storescu: dict | None  # {"storescu": log path, "config": path, "paths": {file path: SOP Instance UID}}
    path: Path  # the journal file


def plain(row: dict) -> dict:
    """A row with its timestamps as integer microseconds (JSON for the journal, and the table takes them)."""
    return {k: int(v.timestamp() * 1_000_000) if isinstance(v, datetime) else v for k, v in row.items()}
