"""Library entry points of DICOM ingestion: land folders of files, or listen for C-STORE."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ingestion.dicom.admission import ReceiverMetrics
from ingestion.dicom.discover import check_paths
from ingestion.dicom.folders import FOLDER_APP_ID, DicomIngestReport, IngestProgress, ingest_roots
from ingestion.dicom.landing import ingest_lock
from ingestion.dicom.receiver import run_receiver
from radlake import lake
from radlake.config import Settings

__all__ = ["FOLDER_APP_ID", "DicomIngestReport", "IngestProgress", "ingest_dicom", "listen"]


def ingest_dicom(
    settings: Settings,
    paths: Sequence[Path | str],
    *,
    progress: Callable[[IngestProgress], None] | None = None,
    workers: int | None = None,
    batch_files: int = 2000,
    min_age_seconds: float = 0.0,
    missing_ok: bool = False,
) -> DicomIngestReport:
    """Land the DICOM headers of every new file under ``paths`` in bronze.

    Folders are walked recursively and every file is looked at, whatever its name; each new file gets one
    ``bronze/dicom_files`` row (instance, duplicate, conflict or reject with a reason) and each new SOP
    instance one ``bronze/dicom_instances`` row. Files already landed are not read again, so a re-run over
    the same folders commits nothing; a re-run after a crash gives the tables of a clean run.

    Parameters
    ----------
    settings
        ``settings.lake`` is where bronze lives (local or ``s3://``).
    paths
        Folders and/or files.
    progress
        Called after each chunk of files with an :class:`IngestProgress`.
    workers
        Parsing processes; 0 parses in this process. Default: one per CPU, or none for a few hundred files.
    batch_files
        Files per commit batch; bounds memory, whatever the number of files.
    min_age_seconds
        Leave files modified more recently than this for a later run (a watch folder being copied into).
    missing_ok
        Skip inputs that no longer exist instead of raising (a sensor's list of arrived files).

    Returns
    -------
    DicomIngestReport
        Counts per outcome, files seen / skipped, table versions before and after, seconds.

    Raises
    ------
    radlake.errors.DataError
        A path does not exist.
    radlake.errors.LakeError
        The lake cannot be written.
    """
    started = time.perf_counter()
    roots = check_paths(paths, missing_ok=missing_ok)
    lake.ensure_writable(settings)
    with ingest_lock(settings):
        return ingest_roots(settings, roots, started, progress, workers, batch_files, min_age_seconds)


def listen(
    settings: Settings,
    host: str,
    port: int,
    ae_title: str,
    storage: Path | str,
    stop_event: threading.Event | None = None,
    *,
    flush_seconds: float = 1.0,
    ready: Callable[[int], None] | None = None,
    metrics: ReceiverMetrics | None = None,
) -> None:
    """Run a DICOM C-STORE SCP that stores what it receives and lands headers in micro-batches.

    Files received before a crash but not landed are landed first. Blocks until ``stop_event`` is set,
    then lands the current micro-batch and returns.

    Parameters
    ----------
    settings
        Where the lake is.
    host, port, ae_title
        Where to listen and the AE title to answer as (port 0 picks a free port).
    storage
        Folder for received files (``<storage>/<calling AE>/<yyyymmdd>/<SOP Instance UID>.dcm``).
    stop_event
        Set it to stop (SIGTERM in the CLI); None runs until interrupted.
    flush_seconds
        Longest time a received file waits before its header is committed.
    ready
        Called with the bound port once the server accepts associations.
    metrics
        Counters the receiver keeps (associations accepted and rejected by reason, idle connections dropped,
        instances stored); also written to ``<state_dir>/metrics/dicom-receiver-<port>.prom``.
    """
    run_receiver(
        settings,
        host=host,
        port=port,
        ae_title=ae_title,
        storage=Path(storage),
        stop_event=stop_event or threading.Event(),
        flush_seconds=flush_seconds,
        ready=ready,
        metrics=metrics,
    )
