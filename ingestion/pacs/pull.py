"""``radlake pacs pull``: find a window's studies at a PACS, retrieve those not complete, record each one's state.

A study is ``complete`` only when bronze holds as many of its instances as the PACS lists (the study-level
count, or the instance-level one when the study count is absent or disagrees with what arrived). Retrieved
instances land through the DICOM ingest's own path: by C-MOVE the PACS sends them to radlake's receiver
(``radlake dicom listen``); by C-GET they are stored into ``<state_dir>/pacs/<peer>/`` and landed, a round of
studies at a time, by the same lander the receiver uses (same rows, rejects and reasons, exactly once). The
state table is written after each round of retrievals, so a stopped pull (the PACS down, the window closed, a
kill) continues where it stopped (a study left ``requested`` by a kill is retrieved again); a study that gains
instances at the PACS is found again and retrieved again (what was already landed never lands as new
instances: the receiver drops bytes it already stored, and bronze classifies anything else as a duplicate).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingestion.dicom import ingest_lock, land_unlanded
from ingestion.pacs.find import Finder, StudyHit, find_window
from ingestion.pacs.retrieve import Retrieved, get_study, move_study
from ingestion.pacs.state import load_states, save_states
from ingestion.pacs.throttle import in_window
from radlake.config import PacsPeerConfig, Settings
from radlake.dicom_peer import DicomPeer, parse_peer
from radlake.errors import RadlakeError, SourceUnreachableError
from radlake.lake import Lake
from radlake.private import state_folder

log = logging.getLogger(__name__)

ROUND_PER_ASSOCIATION = 4
"""Studies per association in one round of retrievals (the state table is written after each round)."""


@dataclass
class PullReport:
    """What one pull did (figures only: no patient data)."""

    peer: str
    found: int = 0
    already_complete: int = 0
    complete: int = 0
    failed: int = 0
    not_started: int = 0
    instances_received: int = 0
    queries: int = 0
    splits: int = 0
    capped: list[str] = field(default_factory=list)
    stopped: str = ""


def received_counts(settings: Settings, study_uids: list[str]) -> dict[str, int]:
    """Distinct SOP instances bronze holds per study."""
    instances = Lake(settings).table("bronze", "dicom_instances")
    data = instances.rows_matching("study_instance_uid", study_uids, ["study_instance_uid", "sop_instance_uid"])
    counts: dict[str, set[str]] = {}
    if data is not None:
        for study, sop in zip(data.column(0).to_pylist(), data.column(1).to_pylist(), strict=True):
            counts.setdefault(study, set()).add(sop)
    return {uid: len(counts.get(uid, ())) for uid in study_uids}


def _peer_config(settings: Settings, peer: DicomPeer) -> PacsPeerConfig | None:
    return next((p for p in settings.pacs.peers.values() if parse_peer(p.peer) == peer), None)


class _Pull:
    def __init__(self, settings: Settings, peer: DicomPeer, use_get: bool, receiver_wait: float) -> None:
        self.settings = settings
        self.peer = peer
        self.cfg = _peer_config(settings, peer)
        self.use_get = use_get or (self.cfg is not None and self.cfg.retrieve == "get")
        self.destination = (self.cfg.move_destination if self.cfg else None) or settings.dicom.receiver.ae_title
        self.receiver_wait = receiver_wait
        self.calling = settings.pacs.calling_ae
        self.timeout = settings.pacs.timeout_seconds
        self.finder = Finder(peer, self.calling, self.timeout)
        self.get_folder = pull_folder(settings, peer)

    def fetch(self, hit: StudyHit) -> tuple[Retrieved, int | None]:
        """Retrieve one study (C-GET: into its folder); its end and the instance count the PACS gives."""
        uid = hit.study_instance_uid
        expected = hit.instances
        try:
            if expected is None:
                expected = self.finder.instance_count(uid)
            if not self.use_get:
                return move_study(self.peer, self.calling, self.destination, uid, self.timeout), expected
            return get_study(self.peer, self.calling, uid, self.get_folder / uid, self.timeout), expected
        except (RadlakeError, OSError) as exc:
            return Retrieved(None, 0, 0, 0, str(exc)[:200]), expected

    def wait_landed(self, expected: dict[str, int | None], wait: bool) -> dict[str, int]:
        """Instances bronze holds per study, waiting (bounded) for the receiver's micro-batches after C-MOVEs."""
        deadline = time.monotonic() + (self.receiver_wait if wait else 0)
        while True:
            have = received_counts(self.settings, list(expected))
            short = [u for u, n in expected.items() if n is None or have[u] < n]
            if not short or time.monotonic() >= deadline:
                return have
            time.sleep(0.3)

    def settle(self, hit: StudyHit, prior: dict | None, got: Retrieved, expected: int | None, have: int) -> dict:
        """The study's new state row."""
        if expected is not None and have < expected and got.status is not None:
            # The study-level count may be stale or wrong: the instance list is the truth.
            with contextlib.suppress(SourceUnreachableError):
                expected = self.finder.instance_count(hit.study_instance_uid)
        complete = expected is not None and have >= expected
        return {
            **_row(self.peer, hit, prior, datetime.now(UTC)),
            "state": "complete" if complete else "failed",
            "instances_expected": expected,
            "instances_received": have,
            "peer_status": None if complete else (got.reason or f"{have} of {expected} instances arrived"),
            "attempts": int((prior or {}).get("attempts") or 0) + 1,
        }

    def land(self, batch: list[StudyHit]) -> None:
        """Land what C-GET stored for a round of studies, in one landing (one commit, not one per study)."""
        folders = [self.get_folder / h.study_instance_uid for h in batch]
        folders = [f for f in folders if f.exists()]
        if folders:
            with ingest_lock(self.settings):
                land_unlanded(self.settings, folders, source=lambda _p: f"pacs:{self.peer.ae_title}")

    def round(self, pool: ThreadPoolExecutor, batch: list[StudyHit], states: dict[str, dict]) -> list[dict]:
        """Retrieve a round of studies (at most ``pacs.associations`` at once) and settle each one's state."""
        fetched = list(pool.map(self.fetch, batch))
        if self.use_get:
            try:
                self.land(batch)
            except (RadlakeError, OSError) as exc:
                # Nothing of the round counts as landed: each study fails with the reason, the next pull retries.
                fetched = [(Retrieved(None, 0, 0, 0, str(exc)[:200]), e) for _, e in fetched]
        expected = {h.study_instance_uid: e for h, (_, e) in zip(batch, fetched, strict=True)}
        moved = not self.use_get and any(got.completed or got.ok for got, _ in fetched)
        have = self.wait_landed(expected, moved)
        return [
            self.settle(h, states.get(h.study_instance_uid), got, e, have[h.study_instance_uid])
            for h, (got, e) in zip(batch, fetched, strict=True)
        ]


def _row(peer: DicomPeer, hit: StudyHit, prior: dict | None, now: datetime) -> dict:
    return {
        "peer": peer.url,
        "study_instance_uid": hit.study_instance_uid,
        "accession_number": hit.accession_number,
        "study_date": hit.study_date,
        "state": "found",
        "instances_expected": hit.instances,
        "instances_received": (prior or {}).get("instances_received") or 0,
        "peer_status": None,
        "attempts": (prior or {}).get("attempts") or 0,
        "found_at": (prior or {}).get("found_at") or now,
        "updated_at": now,
    }


def pull_studies(
    settings: Settings,
    peer_url: str,
    since: date,
    until: date,
    *,
    get: bool = False,
    receiver_wait: float = 30.0,
    clock: Callable[[], datetime] | None = None,
) -> PullReport:
    """Pull the studies of days ``since``..``until`` from one PACS (see the module's docstring).

    Parameters
    ----------
    peer_url
        ``dicom://AETITLE@HOST:PORT``.
    get
        C-GET instead of C-MOVE (also when the peer's config says ``retrieve: get``).
    receiver_wait
        Longest wait, after a C-MOVE, for the receiver to land what the PACS sent.
    clock
        Local time now (tests); the window ``pacs.window`` is checked before each round of retrievals.

    Raises
    ------
    SourceUnreachableError
        The PACS does not answer C-FIND (nothing is changed).
    """
    peer = parse_peer(peer_url)
    zone = ZoneInfo(settings.timezone)
    now = clock or (lambda: datetime.now(zone))
    report = PullReport(peer=peer.url)
    window = settings.pacs.window
    if not in_window(now(), window):
        report.stopped = f"outside the pull window {window}"
        return report
    run = _Pull(settings, peer, get, receiver_wait)
    found = find_window(run.finder, since, until)
    report.queries, report.splits, report.capped = found.queries, found.splits, found.capped
    report.found = len(found.studies)
    states = load_states(settings, peer.url)
    todo: list[StudyHit] = []
    rows = []
    stamp = datetime.now(UTC)
    for uid in sorted(found.studies):
        hit, prior = found.studies[uid], states.get(uid)
        if (
            prior
            and prior["state"] == "complete"
            and (hit.instances is None or hit.instances <= (prior["instances_received"] or 0))
        ):
            report.already_complete += 1
            continue
        todo.append(hit)
        rows.append({**_row(peer, hit, prior, stamp), "attempts": (prior or {}).get("attempts") or 0})
    save_states(settings, rows)
    # A round holds several studies per association, so waiting for the receiver's landing is shared.
    size = settings.pacs.associations * ROUND_PER_ASSOCIATION
    with ThreadPoolExecutor(max_workers=settings.pacs.associations, thread_name_prefix="pacs-pull") as pool:
        for start in range(0, len(todo), size):
            if not in_window(now(), window):
                report.stopped = f"the pull window {window} closed"
                report.not_started = len(todo) - start
                break
            batch = todo[start : start + size]
            now_utc = datetime.now(UTC)
            save_states(
                settings,
                [{**_row(peer, h, states.get(h.study_instance_uid), now_utc), "state": "requested"} for h in batch],
            )
            done = run.round(pool, batch, states)
            save_states(settings, done)
            for row in done:
                report.complete += row["state"] == "complete"
                report.failed += row["state"] == "failed"
                report.instances_received += int(row["instances_received"] or 0)
    return report


def pull_folder(settings: Settings, peer: DicomPeer) -> Path:
    """Where C-GET stores a peer's instances before they land (identified images: owner-only)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", peer.ae_title)
    return state_folder(settings, "pacs", f"{safe}-{peer.port}")
