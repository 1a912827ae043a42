"""The router sends one batch while the last one commits: a kill can leave two batches journaled, not yet in
the lake. The next start commits both, in order, and sends neither again (a folder destination: no peer)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ingestion.routing import Router
from ingestion.routing.queue import Journal, QueueLog, load_states, now_micros
from radlake.config import Settings
from radlake.private import state_folder


def _row(sop: str, path: Path, state: str, attempts: int) -> dict:
    now = now_micros()
    return {
        "sop_instance_uid": sop,
        "destination": "box",
        "study_instance_uid": "1.2.3",
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
        "rule": "manual:test",
        "file_path": str(path),
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "deidentify": "",
        "state": state,
        "attempts": attempts,
        "last_error": "",
        "peer_status": None,
        "landed_at": now,
        "event_at": now,
        "sent_at": now if state == "sent" else None,
    }


def test_two_journaled_batches_are_committed_in_order_and_not_sent_again(tmp_path: Path) -> None:
    box = tmp_path / "box"
    settings = Settings(lake=str(tmp_path / "lake"), routing={"destinations": {"box": {"folder": str(box)}}})
    files = []
    for i in range(9):
        files.append(tmp_path / "in" / f"{i}.dcm")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_bytes(f"instance {i}".encode() * 50)
    sops = [f"1.2.3.{i}" for i in range(9)]
    queued = [_row(s, f, "queued", 0) for s, f in zip(sops, files, strict=True)]
    QueueLog(settings, "radlake.route.manual:box").commit(queued)
    # What a router killed with batch 1 committing and batch 2 sending leaves: two journals, answers in each.
    journal = Journal(state_folder(settings, "routing"), "box")
    journal.begin(1)
    for s, f in zip(sops[:3], files[:3], strict=True):
        journal.record(_row(s, f, "sent", 1))
    journal.begin(2)
    for s, f in zip(sops[3:6], files[3:6], strict=True):
        journal.record(_row(s, f, "sent", 1))

    router = Router(settings, ["box"])
    router.start()
    try:
        assert router.wait_idle(30)
    finally:
        router.close()

    states = load_states(settings, "box")
    assert {s: r["state"] for (s, _), r in states.items()} == dict.fromkeys(sops, "sent")
    assert {s: r["attempts"] for (s, _), r in states.items()} == dict.fromkeys(sops, 1)  # none sent twice
    # Only the instances no journal answered reached the folder.
    assert sorted(p.name for p in box.rglob("*.dcm")) == sorted(f"{s}.dcm" for s in sops[6:])
    assert QueueLog(settings, "radlake.route.send:box").txn == 3  # batches 1 and 2, then the new one
    assert not list(state_folder(settings, "routing").glob("*.journal"))
