"""Land the new files under folders in bronze: walk, parse (in worker processes for big runs), commit in batches.

Shared by the folder ingest (:func:`ingestion.dicom.api.ingest_dicom`) and the C-STORE receiver, which lands what
it stored while the lake was busy or before a crash (:func:`land_unlanded`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.dicom.discover import check_paths, walk_files
from ingestion.dicom.landing import FILES, INSTANCES, LandedState, Lander, load_state
from ingestion.dicom.workers import default_workers, parse_in_order, parse_paths, rows_to_chunk, set_aside_row
from radlake.config import DicomLimits, Settings
from radlake.lake import Lake

log = logging.getLogger(__name__)

FOLDER_APP_ID = "radlake.ingest.dicom"
"""Delta app transaction id of folder ingests (receivers use their own, see receiver.py)."""


def folder_app_id(settings: Settings) -> str:
    """The app id of this host's folder ingests: ``radlake.ingest.dicom:<host and state folder>``.

    One writer per app id: on one host the ingest lock serialises folder ingests sharing a state folder;
    ingests in other pods (or with another state folder) commit to the same tables at the same time, and a
    shared id would let one skip the other's batch numbers as already landed.
    """
    import socket

    domain = f"{socket.gethostname()}:{settings.state_dir.resolve()}"
    return f"{FOLDER_APP_ID}:{hashlib.sha256(domain.encode()).hexdigest()[:12]}"


CHUNK_FILES = 200
"""Files per unit of work sent to a worker process."""

IN_PROCESS_BELOW = 400
"""Runs with fewer new files than this are parsed in-process: starting workers costs about half a second."""

LOOKUP_BLOCK = 500
"""Walked paths asked of the landing index at once (whether they have landed)."""


@dataclass
class IngestProgress:
    """Where a running ingest is, for a progress bar.

    Attributes
    ----------
    discovered
        Files found so far by the walk.
    skipped
        Of those, already landed (not read again).
    processed
        New files read, parsed and classified.
    walk_done
        Whether the walk has finished (``discovered`` is then the total).
    """

    discovered: int = 0
    skipped: int = 0
    processed: int = 0
    walk_done: bool = False


@dataclass
class DicomIngestReport:
    """What one ingest did.

    Attributes
    ----------
    files_seen
        Files found under the paths.
    files_skipped
        Already in ``bronze/dicom_files`` (not read again).
    files_vanished
        Removed between the walk and the read (not landed; picked up again if they come back).
    files_unsettled
        Modified less than ``min_age_seconds`` ago (possibly still being copied; left for the next run).
    outcomes
        New files per outcome: instance, duplicate, conflict, reject.
    batches
        Batches committed (each one commit per table).
    table_versions
        ``layer/name`` → (version before, version after); None where there was no table.
    seconds
        Wall time of the run.
    """

    files_seen: int = 0
    files_skipped: int = 0
    files_vanished: int = 0
    files_unsettled: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    table_versions: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def files_new(self) -> int:
        """Files read and landed by this run."""
        return sum(self.outcomes.values())

    @property
    def files_per_second(self) -> float:
        """New files landed per second of wall time."""
        return self.files_new / self.seconds if self.seconds > 0 else 0.0

    @property
    def committed(self) -> bool:
        """Whether any table changed."""
        return any(before != after for before, after in self.table_versions.values())


def finish_report(
    settings: Settings,
    report: DicomIngestReport,
    prog: IngestProgress,
    lander: Lander,
    before: dict[str, int | None],
    started: float,
    progress: Callable[[IngestProgress], None] | None,
) -> DicomIngestReport:
    """Fill in a folder ingest's report once its last batch landed (process pool and engine backfill alike)."""
    prog.walk_done = True
    if progress is not None:
        progress(prog)
    after = table_versions(settings)
    report.files_seen = prog.discovered
    report.files_skipped = prog.skipped
    report.outcomes = lander.counts.as_dict()
    report.batches = lander.batches_committed
    report.table_versions = {k: (before[k], after[k]) for k in before}
    report.seconds = time.perf_counter() - started
    return report


def table_versions(settings: Settings) -> dict[str, int | None]:
    """The DICOM bronze tables' versions (None: no table yet), by ``layer/name``."""
    lake = Lake(settings)
    return {spec.key: lake.table(spec).version() for spec in (INSTANCES, FILES)}


BACKLOG_BATCH_FILES = 200
"""Files per batch when the receiver lands its backlog: each batch is committed before the next is read."""

SET_ASIDE_REASON = (
    "set_aside: the process stopped twice while landing this file (read alone the second time); "
    "it is left unread: see docs/OPERATIONS.md"
)


class LandingJournal:
    """The files a backlog landing is reading and committing, on disk, for the start after a crash.

    A file that kills the process (memory, a parser bug) would otherwise kill every restart's backlog scan
    again, and nothing stored after it would ever land. After a crash the files named here are landed one at
    a time; one that stops the process again while read alone is landed as a reject with
    :data:`SET_ASIDE_REASON`, unread, and the rest of the backlog lands.
    """

    def __init__(self, settings: Settings, roots: Sequence[Path]) -> None:
        key = hashlib.sha256("\n".join(sorted(str(r) for r in roots)).encode()).hexdigest()[:12]
        self.path = settings.state_dir / f"dicom-backlog-{key}.json"

    def read(self) -> tuple[list[str], bool]:
        """(paths being landed when the last run stopped, whether they were landed one at a time)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [str(p) for p in data["paths"]], bool(data["alone"])
        except (OSError, ValueError, KeyError, TypeError):
            return [], False

    def write(self, paths: Sequence[str], alone: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"paths": list(paths), "alone": alone}), encoding="utf-8")
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def land_unlanded(
    settings: Settings,
    roots: Sequence[Path],
    *,
    source: Callable[[str], str] | None = None,
) -> DicomIngestReport:
    """Land every file under ``roots`` that has no ``bronze/dicom_files`` row; the caller holds
    :func:`ingestion.dicom.landing.ingest_lock` (the receiver, landing what it stored while the lake was busy
    or before a crash). ``source`` gives each file's ``source`` column from its path (default ``folder``).

    Read in this process in small batches, each committed before the next is read, under a
    :class:`LandingJournal`: a file that stops the process is set aside at the next start instead of
    stopping every start.
    """
    checked = check_paths(roots)
    journal = LandingJournal(settings, checked)
    return ingest_roots(
        settings, checked, time.perf_counter(), None, 0, BACKLOG_BATCH_FILES, 0.0, source, journal=journal
    )


def _land_suspects(lander: Lander, journal: LandingJournal, limits: DicomLimits, source: Callable[[str], str]) -> None:
    """Land the files a crashed backlog landing was reading: one at a time, or set aside when that crashed."""
    paths, alone = journal.read()
    try:
        for path in paths:
            if lander.state.is_landed(path):
                continue
            if alone:
                # Not named here: the path carries a SOP Instance UID; its reject row in bronze names it.
                log.warning("setting aside a stored file that stopped the last two starts (see its reject row)")
                chunk = rows_to_chunk([set_aside_row(path, SET_ASIDE_REASON)], [], [])
            else:
                journal.write([path], alone=True)
                chunk = parse_paths([path], limits)
            lander.add(chunk, [source(p) for p in chunk.files.column("file_path").to_pylist()])
            lander.commit_now()
    except BaseException:
        lander.abort()  # what was committed stays
        raise
    journal.clear()


def _chunks(first: list[str], rest: Iterator[str], size: int) -> Iterator[list[str]]:
    """``first`` then ``rest`` in lists of ``size`` paths."""
    for i in range(0, len(first), size):
        yield first[i : i + size]
    chunk: list[str] = []
    for path in rest:
        chunk.append(path)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def unlanded(roots: list[Path], state: LandedState, prog: IngestProgress) -> Iterator[str]:
    """The walked files that have not landed, counted in ``prog``.

    The landing index is asked about a block of walked paths at once: a query per path cost a tenth of a folder
    ingest's CPU (issue 30).
    """
    walked = walk_files(roots)
    while block := list(itertools.islice(walked, LOOKUP_BLOCK)):
        prog.discovered += len(block)
        landed = state.landed_among(block)
        prog.skipped += len(landed)
        yield from (p for p in block if p not in landed)


def ingest_roots(
    settings: Settings,
    roots: list[Path],
    started: float,
    progress: Callable[[IngestProgress], None] | None,
    workers: int | None,
    batch_files: int,
    min_age_seconds: float,
    source: Callable[[str], str] | None = None,
    journal: LandingJournal | None = None,
) -> DicomIngestReport:
    """Land the new files under ``roots`` (checked paths) in bronze; the caller holds the ingest lock.

    The body of :func:`ingestion.dicom.api.ingest_dicom` and :func:`land_unlanded`: walk, parse (in worker
    processes when there are many files), classify and commit in batches through a
    :class:`~ingestion.dicom.landing.Lander`. ``source`` gives each file's ``source`` column (default ``folder``).
    With a ``journal``, files are read in this process and each chunk is committed before the next is read.
    """
    before = table_versions(settings)
    state = load_state(settings)
    report = DicomIngestReport()
    prog = IngestProgress()
    app_id = folder_app_id(settings)
    lander = Lander(settings, state, app_id=app_id, batch_files=batch_files, timezone=settings.timezone)
    now = time.time()
    source_of = source or (lambda _: "folder")
    if journal is not None:
        workers = 0  # the journal names what this process is reading
        _land_suspects(lander, journal, settings.dicom.limits, source_of)

    def new_paths() -> Iterator[str]:
        for path in unlanded(roots, state, prog):
            if min_age_seconds > 0:
                try:
                    if now - os.stat(path).st_mtime < min_age_seconds:
                        report.files_unsettled += 1
                        continue
                except OSError:
                    report.files_vanished += 1
                    continue
            yield path
        prog.walk_done = True

    size = min(CHUNK_FILES, batch_files)  # a batch is whole chunks: keep chunks within a batch

    def chunked(first: list[str], rest: Iterator[str]) -> Iterator[list[str]]:
        for chunk in _chunks(first, rest, size):
            if journal is not None:
                journal.write(chunk, alone=False)  # read next, in this process
            yield chunk

    rest = new_paths()
    # Look ahead to decide whether worker processes are worth starting.
    first: list[str] = []
    for path in rest:
        first.append(path)
        if len(first) >= IN_PROCESS_BELOW:
            break
    n_workers = (default_workers() if len(first) >= IN_PROCESS_BELOW else 0) if workers is None else workers
    try:
        for chunk in parse_in_order(chunked(first, rest), n_workers, settings.dicom.limits):
            report.files_vanished += len(chunk.vanished)
            paths = chunk.files.column("file_path").to_pylist()
            lander.add(chunk, "folder" if source is None else [source(p) for p in paths])
            if journal is not None:
                lander.commit_now()
            prog.processed += chunk.files.num_rows + len(chunk.vanished)
            if progress is not None:
                progress(prog)
        lander.close()
        if journal is not None:
            journal.clear()
    except BaseException:
        # Stop the committer; what was committed stays (and is exactly what a re-run builds on).
        lander.abort()
        raise
    return finish_report(settings, report, prog, lander, before, started, progress)
