"""The receiver keeps accepting while another writer holds the lake, and lands every stored file exactly once,
also after a kill -9 between storing and landing (DCMTK's storescu as the peer)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from dicom_corpus import INSTANCES, dataset_bytes, make_dataset, rows
from receiver_harness import landed_files, running_receiver, stored_files, storescu, wait_for

from ingestion.dicom import receiver
from ingestion.dicom.landing import ingest_lock
from radlake.config import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("storescu") is None, reason="needs DCMTK's storescu (apt-get install dcmtk)"),
]
ROOT = Path(__file__).resolve().parents[2]
UID = "1.2.826.0.1.3680043.10.543.136"


def _outbox(folder: Path, uids: range) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in uids:
        path = folder / f"IM{i}"
        path.write_bytes(dataset_bytes(make_dataset(f"{UID}.{i}", study=str(i % 3))))
        out.append(path)
    return out


def _exactly_once(settings: Settings, storage: Path, expected_uids: set[str]) -> None:
    """Every stored file has one dicom_files row, every UID one instance row; compared with the disk."""
    files = landed_files(settings)
    paths = Counter(r["file_path"] for r in files)
    assert all(n == 1 for n in paths.values()), [p for p, n in paths.items() if n > 1]
    on_disk = {str(p) for p in stored_files(storage)}
    assert set(paths) == on_disk
    uids = Counter(r["sop_instance_uid"] for r in rows(settings, INSTANCES))
    assert set(uids) == expected_uids and set(uids.values()) == {1}
    assert {pydicom.dcmread(p).SOPInstanceUID for p in on_disk} == expected_uids


@pytest.mark.slow
def test_receiving_goes_on_while_another_writer_holds_the_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver, "MAX_BATCH_FILES", 3)  # a long wait: rows beyond 3 are landed from disk
    settings = Settings(lake=str(tmp_path / "lake"))
    storage = tmp_path / "received"
    with running_receiver(settings, storage, flush_seconds=0.2) as port:
        with ingest_lock(settings):  # a long folder ingest
            for round_ in range(4):  # over many flush intervals, each association accepted and stored
                sent = _outbox(tmp_path / f"out{round_}", range(10 * round_, 10 * round_ + 2))
                result = storescu(port, sent, "CT_SCANNER")
                assert result.returncode == 0, result.stderr
                time.sleep(0.5)  # let several micro-batches come due while the lake stays busy
            assert len(stored_files(storage)) == 8
            assert landed_files(settings) == []
        expected = {f"{UID}.{10 * r + i}" for r in range(4) for i in range(2)}
        wait_for(lambda: len(landed_files(settings)) == 8, what="8 landed files after the lock was released")
        # And after that, a short wait lands from memory as usual.
        with ingest_lock(settings):
            assert storescu(port, _outbox(tmp_path / "late", range(90, 91)), "CT_SCANNER").returncode == 0
        wait_for(lambda: len(landed_files(settings)) == 9, what="9 landed files")
    _exactly_once(settings, storage, expected | {f"{UID}.90"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(lake: Path, storage: Path, port: int, flush: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from radlake.cli import main; main()", "dicom", "listen", "--port", str(port),
         "--ae-title", "RADLAKE", "--storage", str(storage), "--host", "127.0.0.1", "--lake", str(lake),
         "--flush-seconds", flush],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        assert time.monotonic() < deadline, "listener did not open its port"
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_9_between_store_and_land_then_restart_lands_each_file_exactly_once(tmp_path: Path) -> None:
    lake, storage = tmp_path / "lake", tmp_path / "received"
    settings = Settings(lake=str(lake))
    port = _free_port()
    proc = _start(lake, storage, port, "600")  # nothing lands before the kill
    try:
        sent = _outbox(tmp_path / "out", range(1, 4))
        result = storescu(port, sent, "CT_SCANNER")
        assert result.returncode == 0, result.stderr  # acknowledged: the sender forgets them
        assert len(stored_files(storage)) == 3
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert landed_files(settings) == []
    proc = _start(lake, storage, port, "0.5")
    try:
        wait_for(lambda: len(landed_files(settings)) == 3, what="3 landed files after the restart")
        # The PACS resends one of them (it never heard of the crash): stored once, landed once.
        assert storescu(port, sent[:1], "CT_SCANNER").returncode == 0
        more = _outbox(tmp_path / "more", range(4, 5))
        assert storescu(port, more, "CT_SCANNER").returncode == 0
        wait_for(lambda: len(landed_files(settings)) == 4, what="4 landed files")
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    _exactly_once(settings, storage, {f"{UID}.{i}" for i in range(1, 5)})
    assert {r["source"] for r in landed_files(settings)} == {"dicom:CT_SCANNER"}  # also those landed by the scan
    # A third start finds nothing left to land.
    before = len(landed_files(settings))
    proc = _start(lake, storage, port, "0.5")
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert len(landed_files(settings)) == before
