"""The receiver keeps accepting while another writer holds the lake, and lands every stored file exactly once,
also after a kill -9 between storing and landing (DCMTK's storescu as the peer)."""

from __future__ import annotations

import hashlib
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
        [sys.executable, "-c", "from cli.main import main; main()", "dicom", "listen", "--port", str(port),
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


# A stand-in for a file that kills the process whenever its header is landed (the decoded-size bomb did, by
# running out of memory): the landing aborts the process when a parsed instance says POISON.
_POISONED_START = (
    "import os\n"
    "from ingestion.dicom import landing\n"
    "add = landing.Lander.add\n"
    "def poisoned(self, chunk, source):\n"
    "    if 'POISON' in chunk.instances.column('study_description').to_pylist():\n"
    "        os.abort()\n"
    "    return add(self, chunk, source)\n"
    "landing.Lander.add = poisoned\n"
    "from cli.main import main; main()\n"
)


def _start_poisoned(lake: Path, storage: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _POISONED_START, "dicom", "listen", "--port", str(port), "--ae-title", "RADLAKE",
         "--storage", str(storage), "--host", "127.0.0.1", "--lake", str(lake), "--flush-seconds", "0.3"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.slow
def test_a_file_that_kills_every_landing_is_set_aside_and_the_backlog_lands(tmp_path: Path) -> None:
    lake, storage = tmp_path / "lake", tmp_path / "received"
    settings = Settings(lake=str(lake))
    port = _free_port()
    box = tmp_path / "out"
    box.mkdir()
    sent = []
    for i, study in ((1, "HEAD"), (2, "CHEST"), (3, "POISON")):
        path = box / f"IM{i}"
        path.write_bytes(dataset_bytes(make_dataset(f"{UID}.{i}", StudyDescription=study)))
        sent.append(path)
    proc = _start_poisoned(lake, storage, port)
    try:
        _wait_port(proc, port)
        storescu(port, sent, "CT_SCANNER")  # stored (acknowledged or not), then the landing kills the process
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(stored_files(storage)) == 3
    # Each start lands what it can: the first dies on the batch, the second on the poisoned file read alone,
    # the third sets it aside; the good files land and the receiver stays up.
    for _ in range(4):
        proc = _start_poisoned(lake, storage, port)
        try:
            deadline = time.monotonic() + 90
            while proc.poll() is None and len(landed_files(settings)) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            if proc.poll() is None:
                break
        finally:
            if proc.poll() is not None:
                proc.wait()
    try:
        assert proc.poll() is None, "the receiver dies at every start: the backlog never lands"
        wait_for(lambda: len(landed_files(settings)) == 3, what="3 landed files")
        late = box / "IM4"
        late.write_bytes(dataset_bytes(make_dataset(f"{UID}.4", StudyDescription="LATE")))
        assert storescu(port, [late], "CT_SCANNER").returncode == 0
        wait_for(lambda: len(landed_files(settings)) == 4, what="4 landed files")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(60)
    by_uid = {r["sop_instance_uid"]: r for r in landed_files(settings) if r["sop_instance_uid"]}
    assert set(by_uid) == {f"{UID}.{i}" for i in (1, 2, 4)}
    aside = [r for r in landed_files(settings) if r["outcome"] == "reject"]
    assert len(aside) == 1 and aside[0]["reason"].startswith("set_aside:")
    assert pydicom.dcmread(aside[0]["file_path"]).StudyDescription == "POISON"
    assert aside[0]["sha256"] == hashlib.sha256(Path(aside[0]["file_path"]).read_bytes()).hexdigest()


def _wait_port(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, "the listener stopped"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, "listener did not open its port"
        time.sleep(0.2)
