"""The router: follows bronze/dicom_instances, queues what the rules match, and runs one sender per destination.

Each destination has its own worker thread, queue and backoff, so a slow or unreachable destination only
delays itself. A worker holds its destination's lock file while it runs: one sender per destination.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import pyarrow as pa

from ingestion.routing.queue import SPEC, WAITING, Journal, QueueLog, load_states, now_micros, plain
from ingestion.routing.rules import BRONZE_COLUMNS, Destination, Lookups, match_rows, resolve_destination
from ingestion.routing.sender import (
    MAX_STORESCU_ARGS,
    MAX_STORESCU_PAIRS,
    Answer,
    BatchFailed,
    Item,
    StorescuLog,
    StorescuRun,
    profile_path,
    send_dicom,
    send_folder,
    storescu_available,
    storescu_running,
)
from radlake import catalog
from radlake.config import Settings
from radlake.errors import ConfigError, LakeError
from radlake.lake import Lake
from radlake.private import state_folder

log = logging.getLogger(__name__)

DeidFactory = Callable[[str], Callable[[bytes, dict], bytes]]
"""Project name → a function turning a stored file's bytes (and its queue row) into the de-identified copy."""

ENQUEUE_APP = "radlake.route.enqueue"
OPENER = 200  # instances in the first storescu batch after an idle spell (see Worker._loop)
PREFETCH_STEP = 128  # files read and checked between two looks at a storescu log (a few ms)
OVERLAP = 400  # files a storescu batch has left to send when the next batch's storescu starts (~0.1 s)
RESENT_NOTE = "sent again after a run died with it in flight: the peer may hold two copies"
INSTANCES = catalog.table("bronze", "dicom_instances")


def ensure_queue(settings: Settings) -> None:
    """Create the empty queue table when there is none."""
    Lake(settings).table(SPEC).create()


@contextlib.contextmanager
def destination_lock(settings: Settings, name: str) -> Iterator[None]:
    """Hold the lock of one destination's sender (a file lock in the state folder), or fail at once."""
    folder = state_folder(settings, "routing")
    path = folder / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LakeError(f"destination {name} is served by another router (lock {path})") from None
        yield
    finally:
        os.close(fd)


def _backoff(settings: Settings, attempts: int) -> float:
    r = settings.routing
    return float(min(r.backoff_seconds * 2 ** max(attempts - 1, 0), r.backoff_max_seconds))


@dataclass
class _Flight:
    """A batch going out through storescu: its number, rows, files, and what became of them so far."""

    txn: int
    by_sop: dict[str, dict]
    files: dict[str, str]  # its storescu log and log configuration
    overlapped: bool  # started while the batch before it was still ending
    chosen: list[Item] = field(default_factory=list)  # what storescu sends
    rows: list[dict] = field(default_factory=list)  # its answers, for the commit
    answered: set[str] = field(default_factory=set)
    run: StorescuRun | None = None
    why: str = ""  # why storescu could not start


class Worker(threading.Thread):
    """Sends one destination's queue in batches, one association per batch, with retries and dead-letter."""

    def __init__(self, settings: Settings, dest: Destination, deid: DeidFactory | None, stop: threading.Event) -> None:
        super().__init__(name=f"route-{dest.name}", daemon=True)
        self.settings = settings
        self.dest = dest
        self.deid = deid
        self.stop = stop
        self.inbox: queue.Queue[list[dict]] = queue.Queue()  # newly queued rows, a list per follow
        self.pending: dict[str, dict] = {}
        self.due: dict[str, float] = {}
        self.log = QueueLog(settings, f"radlake.route.send:{dest.name}")
        self.journal = Journal(state_folder(settings, "routing"), dest.name)
        self.idle = threading.Event()
        self.error: BaseException | None = None
        self.counts = {"sent": 0, "dead": 0, "retry": 0}
        self.resent: set[str] = set()  # in flight when a run died: the peer may already hold a copy
        self._tmp = state_folder(settings, "routing", "tmp")  # copies of images on their way out
        self.txn = self.log.txn  # the last batch number handed out (committed, or on its way to the lake)
        # One batch's rows commit on this thread while the next batch is sent (see _send).
        self._committer = ThreadPoolExecutor(1, thread_name_prefix=f"route-commit-{dest.name}")
        self._committing: Future[None] | None = None
        self._held = False  # a commit was given up (stopping with the lake down): later ones must wait too
        self._checked: dict[str, tuple[dict, tuple[Item | None, bytes | None, str]]] = {}  # see _prefetch
        self._next: _Flight | None = None  # a storescu batch started while the one before it ends (see _land)
        self._overlap = True  # whether the next storescu batch may start before the last one ended

    def recover(self) -> None:
        """Commit what a crashed run journaled (batch by batch, in order), then load this destination's
        waiting rows from the lake."""
        for left in self.journal.leftovers():
            rows = list(left.rows)
            if left.in_flight is not None:
                self.resent.add(left.in_flight)
            if left.storescu is not None:
                rows += self._recover_storescu(left.storescu, {r["sop_instance_uid"] for r in rows})
            if rows:
                self.log.commit(rows, left.txn)
                log.info("routing %s: committed %d answers journaled before a crash", self.dest.name, len(rows))
            left.path.unlink(missing_ok=True)
            self._forget_storescu(left.storescu)
        self.txn = self.log.txn
        for row in load_states(self.settings, self.dest.name).values():
            if row["state"] in WAITING:
                self.pending[row["sop_instance_uid"]] = plain(row)

    def _recover_storescu(self, entry: dict, have: set[str]) -> list[dict]:
        """The answers a storescu batch logged that a killed router never committed (after it finished)."""
        config, paths = Path(entry["config"]), dict(entry["paths"])
        deadline = time.monotonic() + 4 * self.settings.routing.timeout_seconds + 60
        while (pids := storescu_running(config)) and time.monotonic() < deadline:
            time.sleep(0.1)  # the batch the killed router started is still going: its answers are coming
        for pid in pids:  # hung past every timeout: stop it (the router started it); its last file is in doubt
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        reader = StorescuLog(Path(entry["storescu"]))
        answers = reader.read()
        if reader.current is not None and reader.current in paths:
            self.resent.add(paths[reader.current])  # its data went out, its status never came back
        states = load_states(self.settings, self.dest.name)
        rows: list[dict] = []
        for path, answer in answers:
            sop = paths.get(path)
            state = states.get((sop, self.dest.name)) if sop is not None else None
            if sop is None or sop in have or state is None:
                continue
            self._event(plain(state), answer, rows, journal=False)
        return rows

    @staticmethod
    def _forget_storescu(entry: dict | None) -> None:
        if entry is not None:
            for path in (entry["storescu"], entry["config"], profile_path(Path(entry["config"]))):
                Path(path).unlink(missing_ok=True)

    def run(self) -> None:
        try:
            try:
                self._loop()
            finally:
                self._wait_commit()
                self._committer.shutdown()
        except BaseException as exc:  # a bug or a lake that stays down: the router reports it
            self.error = exc
            log.exception("routing %s stopped", self.dest.name)

    def _wait_commit(self) -> None:
        """Wait for the batch whose rows are being committed (its error is this worker's)."""
        if self._committing is not None:
            committing, self._committing = self._committing, None
            committing.result()

    def _loop(self) -> None:
        while not self.stop.is_set() or self._next is not None:
            if self._next is not None:  # started while the last batch ended: see _land
                flight, self._next = self._next, None
                self.idle.clear()
                self._land(flight)
                continue
            self._drain_inbox(0.0)
            now = time.monotonic()
            due = self.due
            size = self.settings.routing.batch_instances
            ready = list(islice((r for s, r in self.pending.items() if not due or due.get(s, 0.0) <= now), size))
            if len(ready) > OPENER and self._storescu() and ready[0]["sop_instance_uid"] not in self._checked:
                # Nothing of it was read ahead (the worker was idle): a short first batch goes out at once, and
                # the rest is read and checked while it is sent (see _prefetch), not before.
                ready = ready[:OPENER]
            if not ready:
                self.idle.set() if not self.pending else self.idle.clear()
                nxt = min(self.due.values(), default=now + 1.0) if self.pending else now + 1.0
                self._drain_inbox(max(0.01, min(nxt - now, self.settings.routing.poll_seconds)))
                continue
            self.idle.clear()
            self._send(ready)

    def _drain_inbox(self, wait: float) -> None:
        try:
            rows = self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self.pending.update((row["sop_instance_uid"], row) for row in rows)
            try:
                rows = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _payload(self, row: dict) -> tuple[Item | None, bytes | None, str]:
        """The item to send (and its bytes), or None and why it can never be sent."""
        path = str(row["file_path"] or "")
        try:
            with open(path, "rb") as fh:  # not pathlib: this runs once an instance, at routing speed
                data = fh.read()
        except OSError as exc:
            return None, None, f"stored file unreadable: {exc.strerror or type(exc).__name__}"
        # The copy is the file that landed: storescu reads it again, yet a file changed since is never sent.
        if row.get("file_sha256") and hashlib.sha256(data).hexdigest() != row["file_sha256"]:
            return None, None, "the stored file changed since it landed (checksum differs)"
        if row.get("deidentify"):
            if self.deid is None:
                return None, None, "de-identification is not available in this process"
            try:
                data = self.deid(row["deidentify"])(data, row)
            except Exception as exc:
                return None, None, f"de-identification failed: {type(exc).__name__}"
            self._tmp.mkdir(parents=True, exist_ok=True)
            path = str(self._tmp / f"{self.dest.name.replace('/', '_')}-{row['sop_instance_uid']}.dcm")
            Path(path).write_bytes(data)
        syntax = str(row.get("transfer_syntax_uid") or "1.2.840.10008.1.2.1")
        return Item(row["sop_instance_uid"], str(row["sop_class_uid"] or ""), syntax, path), data, ""

    def _event(self, row: dict, answer: Answer, rows: list[dict], journal: bool = True) -> None:
        attempts = int(row.get("attempts") or 0) + 1
        now = now_micros()
        if answer.stored:
            state = "sent"
        elif answer.permanent or attempts >= self.settings.routing.max_attempts:
            state = "dead"
        else:
            state = "retry"
        error = answer.error
        if row["sop_instance_uid"] in self.resent:
            error = (error + "; " if error else "") + RESENT_NOTE
        event = {
            **row,
            "state": state,
            "attempts": attempts,
            "last_error": error,
            "peer_status": answer.status,
            "event_at": now,
            "sent_at": now if answer.stored else None,
        }
        if journal:  # before anything else: a kill from here on does not resend it
            self.journal.record(event)
        rows.append(event)
        self.counts[state] += 1
        sop = row["sop_instance_uid"]
        if state == "retry":
            self.pending[sop] = event
            self.due[sop] = time.monotonic() + _backoff(self.settings, attempts)
        else:
            self.pending.pop(sop, None)
            self.due.pop(sop, None)

    def _send(self, batch: list[dict]) -> None:
        """Send one batch, then hand its rows to the commit thread: the next batch goes out while they commit.

        At most two batches are open: the one committing and the one sending (its journal file is written
        first, so a kill leaves both on disk, and the next start commits them in order). Through storescu a
        third may be starting while the one sending ends (see :meth:`_land`).
        """
        if self._storescu():
            self._land(self._launch(batch, overlapped=False))
            return
        self.txn = txn = self.txn + 1
        self.journal.begin(txn)
        rows: list[dict] = []
        by_sop = {r["sop_instance_uid"]: r for r in batch}
        answered: set[str] = set()

        def on_answer(item: Item, answer: Answer) -> None:
            answered.add(item.sop_instance_uid)
            self._event(by_sop[item.sop_instance_uid], answer, rows)

        tried: list[str] = []

        def on_try(item: Item) -> None:
            tried.append(item.sop_instance_uid)
            self.journal.record_try(item.sop_instance_uid)

        items: list[tuple[Item, bytes, str]] = []
        folder = self.dest.peer is None
        checked, self._checked = self._checked, {}
        for row in batch:
            have = checked.get(row["sop_instance_uid"])
            item, data, why = have[1] if have is not None and have[0] is row else self._payload(row)
            if item is None or data is None:
                answered.add(row["sop_instance_uid"])
                self._event(row, Answer(False, None, why, permanent=True), rows)
            else:
                rel = f"{row.get('study_instance_uid') or 'study'}/{item.sop_instance_uid}.dcm" if folder else ""
                items.append((item, data, rel))
        try:
            if not items:
                pass  # every item of the batch was answered without sending (unreadable or changed files)
            elif self.dest.peer is not None:
                send_dicom(
                    self.dest,
                    [i for i, _, _ in items],
                    self.settings.routing.timeout_seconds,
                    on_answer,
                    on_try,
                )
            else:
                send_folder(self.dest, items, on_answer)
        except BatchFailed as exc:
            log.warning("routing %s: %s", self.dest.name, exc)
            for item, _, _ in items:
                if item.sop_instance_uid not in answered:
                    self._event(by_sop[item.sop_instance_uid], Answer(False, None, str(exc)), rows)
        except Exception as exc:  # pynetdicom raised: the batch is retried like a broken association
            log.warning("routing %s: %s", self.dest.name, type(exc).__name__)
            for item, _, _ in items:
                if item.sop_instance_uid not in answered:
                    self._event(
                        by_sop[item.sop_instance_uid], Answer(False, None, f"{type(exc).__name__}: {exc}"[:300]), rows
                    )
        if tried and tried[-1] not in answered:
            # Its data went out and no status came back (a timeout, a lost connection): it may have arrived.
            self.resent.add(tried[-1])
        # Items past the association's context limit were neither answered nor failed: they stay pending.
        self._hand_over(rows, txn, None)

    def _hand_over(self, rows: list[dict], txn: int, storescu: dict[str, str] | None) -> None:
        """Give batch ``txn``'s rows to the commit thread, once the previous batch's rows are in the lake (batch
        numbers reach the lake in order)."""
        self._wait_commit()
        self._committing = self._committer.submit(self._commit, rows, txn, storescu)

    def _storescu(self) -> bool:
        """Whether this batch goes out through DCMTK storescu (see ``routing.sender``)."""
        if self.dest.peer is None or self.dest.tls is not None:
            return False
        mode = self.settings.routing.sender
        return mode == "storescu" or (mode == "auto" and storescu_available())

    def _storescu_files(self, txn: int) -> dict[str, str]:
        """Batch ``txn``'s storescu log and log configuration, in the state folder."""
        folder = state_folder(self.settings, "routing")
        stem = f"{self.journal.stem}-{txn}"
        return {"storescu": str(folder / f"{stem}.storescu.log"), "config": str(folder / f"{stem}.storescu.cfg")}

    def _launch(self, batch: list[dict], overlapped: bool) -> _Flight:
        """Start one batch through storescu: journal it, check its files (those read ahead are not read again),
        and start storescu on what can go out. ``overlapped``: the previous batch is still ending."""
        self.txn = txn = self.txn + 1
        self.journal.begin(txn)
        flight = _Flight(txn, {r["sop_instance_uid"]: r for r in batch}, self._storescu_files(txn), overlapped)
        checked, self._checked = self._checked, {}
        items = []
        for row in batch:
            have = checked.get(row["sop_instance_uid"])
            item, data, why = have[1] if have is not None and have[0] is row else self._payload(row)
            if item is None or data is None:  # journaled in this batch's file (the one just begun)
                flight.answered.add(row["sop_instance_uid"])
                self._event(row, Answer(False, None, why, permanent=True), flight.rows)
            else:
                items.append(item)
        pairs: set[tuple[str, str]] = set()
        room = MAX_STORESCU_ARGS
        for item in items:  # past storescu's context limit or its command line's room: the next batch
            pair = (item.sop_class_uid, item.transfer_syntax_uid)
            room -= len(item.path) + 1
            if room < 0:
                break
            if pair in pairs or len(pairs) < MAX_STORESCU_PAIRS:
                pairs.add(pair)
                flight.chosen.append(item)
        if flight.chosen:
            log_path, config = Path(flight.files["storescu"]), Path(flight.files["config"])
            log_path.unlink(missing_ok=True)
            self.journal.record_storescu(log_path, config, {i.path: i.sop_instance_uid for i in flight.chosen})
            try:
                timeout = self.settings.routing.timeout_seconds
                flight.run = StorescuRun(self.dest, flight.chosen, timeout, log_path, config)
                log.debug(
                    "routing %s: batch %d of %d%s", self.dest.name, txn, len(flight.chosen), overlapped * " (overlap)"
                )
            except OSError as exc:  # its files could not be written, or storescu could not start
                flight.why = f"cannot start storescu: {exc.strerror or type(exc).__name__}"
        return flight

    def _land(self, flight: _Flight) -> None:
        """Follow a storescu batch to its end (its log is the journal of answers: see ingestion.routing.queue),
        then hand its rows to the commit thread.

        While it sends, the next batch's files are read and checked; when it is about to end, the next batch
        starts (:attr:`_next`): its storescu loads, checks its files and asks for its association while this
        one sends its last files, so the peer is not left waiting for a process to start. A peer that takes one
        association at a time takes the next when this one is released; one that refuses a second association
        costs the next batch nothing (no attempt is counted) and batches no longer overlap for it.
        """
        run = flight.run

        def on_answer(item: Item, answer: Answer) -> None:
            flight.answered.add(item.sop_instance_uid)
            self._event(flight.by_sop[item.sop_instance_uid], answer, flight.rows, journal=False)

        why: str | None = flight.why or "storescu did not send the file (unreadable to DCMTK)"
        if run is not None:
            prefetch = self._prefetch(set(flight.by_sop))
            more, launched = True, False
            while not run.poll(on_answer):
                if more:
                    more = prefetch()
                # Only once the peer answered this batch: a peer that is down gets one association at a time.
                left = len(flight.chosen) - run.answered
                if not launched and self._overlap and run.answered and left <= OVERLAP:
                    launched = True
                    while more:
                        more = prefetch()
                    self._next = None if self.stop.is_set() else self._launch_next(flight)
                    continue
                if not more:
                    run.wait(0.02)
            try:
                run.finish()
            except BatchFailed as exc:  # the batch's unanswered items are tried again; the rest waits untouched
                if flight.overlapped and run.no_association():
                    log.warning("routing %s: %s; batches no longer overlap for this peer", self.dest.name, exc)
                    self._overlap = False
                    why = None  # nothing went out: they wait for the next batch, with no attempt counted
                else:
                    log.warning("routing %s: %s", self.dest.name, exc)
                    if exc.in_doubt is not None:
                        self.resent.add(exc.in_doubt)  # its data went out, its status never came back
                    why = str(exc)
        if why is not None:
            for item in flight.chosen:
                if item.sop_instance_uid not in flight.answered:
                    on_answer(item, Answer(False, None, why))
        self._hand_over(flight.rows, flight.txn, flight.files)

    def _launch_next(self, flight: _Flight) -> _Flight | None:
        """Start the batch after ``flight`` (the instances waiting that are not in it), if any."""
        self._drain_inbox(0.0)
        now, due = time.monotonic(), self.due
        waiting = ((s, r) for s, r in self.pending.items() if s not in flight.by_sop)
        size = self.settings.routing.batch_instances
        batch = list(islice((r for s, r in waiting if not due or due.get(s, 0.0) <= now), size))
        return self._launch(batch, overlapped=True) if batch else None

    def _prefetch(self, sending: set[str]) -> Callable[[], bool]:
        """A step of work for the waits of a storescu batch: read and check the files of the next batch (the
        instances waiting after this one), so that it starts sending at once. A row checked here is used by
        the next batch only if it is still the same row (not retried or replaced meanwhile)."""
        now = time.monotonic()
        size = self.settings.routing.batch_instances
        ahead = islice(self.pending.items(), len(sending) + size)
        rows = [r for s, r in ahead if s not in sending and not r.get("deidentify") and self.due.get(s, 0.0) <= now]
        todo = iter(rows[:size])

        def step() -> bool:
            done = 0
            for row in islice(todo, PREFETCH_STEP):
                item, data, why = self._payload(row)
                self._checked[row["sop_instance_uid"]] = (row, (item, b"" if data is not None else None, why))
                done += 1
            return done == PREFETCH_STEP  # more may wait

        return step

    def _commit(self, rows: list[dict], txn: int, storescu: dict[str, str] | None) -> None:
        """Commit batch ``txn``'s rows (on the commit thread), then forget its journal and storescu files."""
        if self._held:
            return  # an earlier batch was left to the journal: this one must not reach the lake before it
        while True:
            try:
                self.log.commit(rows, txn)
                break
            except LakeError as exc:
                log.warning("routing %s: cannot commit to the queue (%s); trying again", self.dest.name, exc)
                if self.stop.wait(1.0):
                    self._held = True
                    return  # the journal keeps the answers for the next start
        self.journal.end(txn)
        self._forget_storescu(storescu)


@dataclass
class RouteSummary:
    """What a manual routing run did: instances queued, and the final states of the run's instances."""

    destination: str
    queued: int = 0
    already: int = 0
    sent: int = 0
    dead: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Router:
    """Routing in one process: queueing from bronze (``follow``) and one :class:`Worker` per destination."""

    def __init__(self, settings: Settings, destinations: list[str] | None = None, deid: DeidFactory | None = None):
        self.settings = settings
        names = destinations if destinations is not None else _configured(settings)
        self.dests = {d.name: d for d in (resolve_destination(settings, n) for n in names)}
        needs = sorted({r.deidentify for r in settings.routing.rules.values() if r.deidentify})
        if needs and deid is None:
            raise ConfigError("routing rules de-identify, but this process has no de-identification")
        self.deid = deid
        self.stop = threading.Event()
        self.workers: dict[str, Worker] = {}
        self.known: set[tuple[str, str]] = set()
        self.enqueue_log = QueueLog(settings, ENQUEUE_APP)
        self.lookups = Lookups(settings)
        self._locks = contextlib.ExitStack()

    def start(self) -> None:
        """Take each destination's lock, recover its journal and queue, and start its worker."""
        ensure_queue(self.settings)
        for name, dest in self.dests.items():
            self._locks.enter_context(destination_lock(self.settings, name))
            worker = Worker(self.settings, dest, self.deid, self.stop)
            worker.recover()
            self.workers[name] = worker
        self.known = set(load_states(self.settings))
        for worker in self.workers.values():
            worker.start()

    def close(self) -> None:
        """Stop the workers (a batch in flight finishes) and release the locks."""
        self.stop.set()
        for worker in self.workers.values():
            worker.join(timeout=self.settings.routing.timeout_seconds + 5)
        self._locks.close()

    def _dispatch(self, rows: list[dict]) -> None:
        by_dest: dict[str, list[dict]] = {}
        for row in rows:
            self.known.add((row["sop_instance_uid"], row["destination"]))
            by_dest.setdefault(row["destination"], []).append(row)
        for dest, some in by_dest.items():
            worker = self.workers.get(dest)
            if worker is not None:
                worker.inbox.put(some)

    def follow_once(self) -> int:
        """Queue what the rules match among instances landed since the last look; returns pairs queued."""
        since = self.enqueue_log.txn or None
        if since is None:
            since = self.enqueue_log.table.committed_version(ENQUEUE_APP)
        rows, version = Lake(self.settings).table(INSTANCES).read_since(since, BRONZE_COLUMNS)
        if version is None or (since is not None and version <= since):
            return 0
        queued: list[dict] = []
        if rows is not None and rows.num_rows:
            queued = self._pairs(rows)
        # The workers start sending while the queued rows commit: a worker's answers carry the whole row and
        # reach the lake under its own app id, so an instance sent before its "queued" row committed is known
        # as sent after a restart (it is never queued twice); one whose "queued" row never committed is read
        # from bronze again, and skipped if its answer is in the lake or a journal.
        self._dispatch(queued)
        if queued:
            self.enqueue_log.commit(queued, version)
        else:
            self.enqueue_log.table.mark_applied(ENQUEUE_APP, version)
            self.enqueue_log.txn = version
        return len(queued)

    def _pairs(self, rows: pa.Table) -> list[dict]:
        matches = match_rows(self.settings, rows, self.lookups)
        if not matches:
            return []
        cols = _columns(rows)
        now = now_micros()
        out = []
        for m in matches:
            known, dest, sops = self.known, m.destination, cols["sop_instance_uid"]
            for i in m.rows:
                if (sops[i], dest) in known:
                    continue
                known.add((sops[i], dest))
                out.append(_queued(cols, i, dest, m.rule, m.deidentify, now))
        return out

    def follow(self, until: threading.Event, on_poll: Callable[[], None] | None = None) -> None:
        """Queue newly landed instances every ``routing.poll_seconds`` until ``until`` is set."""
        while not until.is_set():
            try:
                self.follow_once()
            except LakeError as exc:
                log.warning("routing: cannot read or queue new instances (%s); trying again", exc)
            if on_poll is not None:
                on_poll()
            for name, worker in self.workers.items():
                if worker.error is not None:
                    raise LakeError(f"routing to {name} stopped: {worker.error}")
            until.wait(self.settings.routing.poll_seconds)

    def queue_manual(self, rows: pa.Table, destination: str, rule: str, deidentify: str = "") -> RouteSummary:
        """Queue ``rows`` (bronze instance rows) for one destination; instances already sent or waiting are
        left alone, dead ones are queued afresh."""
        states = load_states(self.settings, destination)
        summary = RouteSummary(destination)
        cols = _columns(rows)
        now = now_micros()
        out = []
        for i, sop in enumerate(cols["sop_instance_uid"]):
            have = states.get((sop, destination))
            if have is not None and have["state"] != "dead":
                summary.already += 1
                continue
            out.append(_queued(cols, i, destination, rule, deidentify, now))
        if out:
            QueueLog(self.settings, f"radlake.route.manual:{destination}").commit(out)
        summary.queued = len(out)
        self._dispatch(out)
        return summary

    def wait_idle(self, timeout: float, on_tick: Callable[[], None] | None = None) -> bool:
        """Wait until every worker's queue is empty (True), or ``timeout`` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if on_tick is not None:
                on_tick()
            if all(w.inbox.empty() and not w.pending for w in self.workers.values()):
                return True
            for name, worker in self.workers.items():
                if worker.error is not None:
                    raise LakeError(f"routing to {name} stopped: {worker.error}")
            time.sleep(0.1)
        return False


QUEUED_FROM_BRONZE = [
    "sop_instance_uid",
    "study_instance_uid",
    "sop_class_uid",
    "transfer_syntax_uid",
    "file_path",
    "file_sha256",
    "ingested_at",
]
"""The bronze columns a queue row copies."""


def _columns(rows: pa.Table) -> dict[str, list]:
    """The columns of bronze rows a queue row copies, as Python lists (the landing time as microseconds:
    an integer, not a datetime object, is what the journal and the queue table take)."""
    out = {}
    for name in QUEUED_FROM_BRONZE:
        column = rows[name]
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        out[name] = column.to_pylist()
    return out


def _queued(cols: dict[str, list], i: int, dest: str, rule: str, deid: str, now: int) -> dict:
    return {
        "sop_instance_uid": cols["sop_instance_uid"][i],
        "destination": dest,
        "study_instance_uid": cols["study_instance_uid"][i],
        "sop_class_uid": cols["sop_class_uid"][i],
        "transfer_syntax_uid": cols["transfer_syntax_uid"][i],
        "rule": rule,
        "file_path": cols["file_path"][i],
        "file_sha256": cols["file_sha256"][i],
        "deidentify": deid,
        "state": "queued",
        "attempts": 0,
        "last_error": "",
        "peer_status": None,
        "landed_at": cols["ingested_at"][i],
        "event_at": now,
        "sent_at": None,
    }


def _configured(settings: Settings) -> list[str]:
    """Every destination a rule names (configured names and inline peers)."""
    from radlake.dicom_peer import parse_peer

    names: dict[str, None] = {}
    for rule in settings.routing.rules.values():
        for dest in rule.to:
            names[str(parse_peer(dest)) if dest.startswith("dicom://") else dest] = None
    return list(names)


def queue_metrics(settings: Settings) -> dict[str, dict[str, float]]:
    """Per destination: queue depth (waiting), oldest waiting (seconds since it landed), sent, dead."""
    now = time.time()
    out: dict[str, dict[str, float]] = {}
    for (_, dest), row in load_states(settings).items():
        m = out.setdefault(dest, {"waiting": 0, "oldest_waiting_seconds": 0.0, "sent": 0, "dead": 0})
        if row["state"] in WAITING:
            m["waiting"] += 1
            landed = row["landed_at"] or row["event_at"]
            m["oldest_waiting_seconds"] = max(m["oldest_waiting_seconds"], round(now - landed.timestamp(), 1))
        else:
            m[row["state"]] += 1
    return out


def cohort_instances(settings: Settings, cohort: str) -> pa.Table:
    """The bronze rows of a cohort's current members' instances (what ``radlake route send`` sends).

    Raises
    ------
    radlake.errors.LakeError
        The cohort was never built (``radlake cohort build NAME``).
    """
    import pyarrow.compute as pc

    lake = Lake(settings)
    members = lake.table("silver", "cohort_members").read_arrow(["cohort", "study_instance_uid"])
    studies: list[str] = []
    if members is not None:
        studies = members.filter(pc.equal(members["cohort"], cohort))["study_instance_uid"].to_pylist()
    if not studies:
        raise LakeError(f"cohort {cohort[:60]!r} has no members: build it first (radlake cohort build {cohort[:60]})")
    table = lake.table(INSTANCES).read_arrow(BRONZE_COLUMNS)
    assert table is not None
    return table.filter(pc.is_in(table["study_instance_uid"], pa.array(sorted(set(studies)))))
