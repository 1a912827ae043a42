"""Sending a cohort by hand (``radlake route send``): its instances through the routing queue to one destination."""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.routing.router import DeidFactory, Router, cohort_instances
from radlake.config import Settings
from radlake.progress import Progress, silent


@dataclass(frozen=True)
class CohortSend:
    """What a manual send did: instances queued now and before, sent, dead-letter, and whether all finished."""

    cohort: str
    destination: str
    queued: int
    already: int
    sent: int
    dead: int
    done: bool


def send_cohort(
    settings: Settings,
    cohort: str,
    to: str,
    *,
    deid: DeidFactory | None,
    deidentify: bool,
    timeout: float,
    progress: Progress | None = None,
) -> CohortSend:
    """Queue a built cohort's instances for ``to`` and send them, waiting at most ``timeout`` seconds.

    Parameters
    ----------
    settings
        The lake and the routing destinations.
    cohort, to
        The cohort (built first) and a destination of ``routing.destinations`` or ``dicom://AE@HOST:PORT``.
    deid, deidentify
        The de-identifier factory of the routing (see :func:`transforms.export.routing_deidentifier`), and
        whether the copies are de-identified for the cohort's project.
    timeout
        Seconds to wait for the queue to drain.
    progress
        Where the wait shows (finished of queued instances); default nowhere.

    Returns
    -------
    CohortSend
    """
    rows = cohort_instances(settings, cohort)
    router = Router(settings, [to], deid=deid)
    router.start()
    try:
        (dest,) = router.dests
        summary = router.queue_manual(rows, dest, f"manual:{cohort}", cohort if deidentify else "")
        worker = router.workers[dest]
        total = summary.queued
        with (progress or silent()).phase("instances") as step:
            done = router.wait_idle(timeout, lambda: step.update(worker.counts["sent"] + worker.counts["dead"], total))
        sent, dead = worker.counts["sent"], worker.counts["dead"]
    finally:
        router.close()
    return CohortSend(cohort, dest, summary.queued, summary.already, sent, dead, done)
