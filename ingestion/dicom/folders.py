"""Land the new files under folders in bronze: walk, parse (in worker processes for big runs), commit in batches.

Shared by the folder ingest (:func:`ingestion.dicom.api.ingest_dicom`) and the C-STORE receiver, which lands what
it stored while the lake was busy or before a crash (:func:`land_unlanded`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.dicom.discover import check_paths, walk_files
from ingestion.dicom.landing import FILES, INSTANCES, Lander, load_state
from ingestion.dicom.workers import default_workers, parse_in_order
from radlake import catalog, lake
from radlake.config import Settings

FOLDER_APP_ID = "radlake.ingest.dicom"
"""Delta app transaction id of folder ingests (receivers use their own, see receiver.py)."""


def folder_app_id(settings: Settings) -> str:
    """The app id of this host's folder ingests: ``radlake.ingest.dicom:<host and state folder>``.

    One writer per app id: on one host the ingest lock serialises folder ingests sharing a state folder;
    ingests in other pods (or with another state folder) commit to the same tables at the same time, and a
    shared id would let one skip the other's batch numbers as already landed.
    """
    import hashlib
    import socket

    domain = f"{socket.gethostname()}:{settings.state_dir.resolve()}"
    return f"{FOLDER_APP_ID}:{hashlib.sha256(domain.encode()).hexdigest()[:12]}"


CHUNK_FILES = 200
"""Files per unit of work sent to a worker process."""

IN_PROCESS_BELOW = 400
"""Runs with fewer new files than this are parsed in-process: starting workers costs about half a second."""


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
    return {spec.key: lake.table_version(settings, catalog.table_uri(settings, spec)) for spec in (INSTANCES, FILES)}


def land_unlanded(
    settings: Settings,
    roots: Sequence[Path],
    *,
    workers: int = 0,
    source: Callable[[str], str] | None = None,
) -> DicomIngestReport:
    """Land every file under ``roots`` that has no ``bronze/dicom_files`` row; the caller holds
    :func:`ingestion.dicom.landing.ingest_lock` (the receiver, landing what it stored while the lake was busy
    or before a crash). ``source`` gives each file's ``source`` column from its path (default ``folder``)."""
    return ingest_roots(settings, check_paths(roots), time.perf_counter(), None, workers, 2000, 0.0, source)


def ingest_roots(
    settings: Settings,
    roots: list[Path],
    started: float,
    progress: Callable[[IngestProgress], None] | None,
    workers: int | None,
    batch_files: int,
    min_age_seconds: float,
    source: Callable[[str], str] | None = None,
) -> DicomIngestReport:
    """Land the new files under ``roots`` (checked paths) in bronze; the caller holds the ingest lock.

    The body of :func:`ingestion.dicom.api.ingest_dicom` and :func:`land_unlanded`: walk, parse (in worker
    processes when there are many files), classify and commit in batches through a
    :class:`~ingestion.dicom.landing.Lander`. ``source`` gives each file's ``source`` column (default ``folder``).
    """
    before = table_versions(settings)
    state = load_state(settings)
    report = DicomIngestReport()
    prog = IngestProgress()
    app_id = folder_app_id(settings)
    lander = Lander(settings, state, app_id=app_id, batch_files=batch_files, timezone=settings.timezone)
    now = time.time()

    def new_paths() -> Iterator[str]:
        for path in walk_files(roots):
            prog.discovered += 1
            if path in state.known_paths:
                prog.skipped += 1
                continue
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
            prog.processed += chunk.files.num_rows + len(chunk.vanished)
            if progress is not None:
                progress(prog)
        lander.close()
    except BaseException:
        # Stop the committer; what was committed stays (and is exactly what a re-run builds on).
        lander.abort()
        raise
    return finish_report(settings, report, prog, lander, before, started, progress)
