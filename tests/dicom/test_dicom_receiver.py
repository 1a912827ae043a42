"""The C-STORE receiver with DCMTK's storescu as the sending peer (Debian package dcmtk)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from dicom_corpus import FILES, INSTANCES, dataset_bytes, make_dataset, rows, sha256

from ingestion.dicom.api import ingest_dicom, listen
from radlake.config import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("storescu") is None, reason="needs DCMTK's storescu (apt-get install dcmtk)"),
]
ROOT = Path(__file__).resolve().parents[2]
UID = "1.2.826.0.1.3680043.10.543.66"


def _storescu(port: int, files: list[Path], calling: str = "MODALITY1") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["storescu", "-aet", calling, "-aec", "RADLAKE", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _wait_rows(settings: Settings, n: int, timeout: float = 120.0) -> float:
    """Seconds until bronze/dicom_files holds ``n`` rows."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        uri = Path(settings.lake) / "bronze" / "dicom_files" / "_delta_log"
        if uri.exists() and len(rows(settings, FILES)) >= n:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"bronze/dicom_files did not reach {n} rows within {timeout} s")


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def _same_dataset(a: Path, b: Path) -> bool:
    da, db = pydicom.dcmread(a), pydicom.dcmread(b)
    return da == db and da.PixelData == db.PixelData


def test_storescu_sends_listener_stores_losslessly_and_lands(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    storage = tmp_path / "received"
    outbox = tmp_path / "outbox"
    sent = [
        _write(outbox, f"IM{i}", dataset_bytes(make_dataset(f"{UID}.{i}", series=str(1 + i % 2), study="1")))
        for i in range(1, 6)
    ]
    stop = threading.Event()
    bound: list[int] = []
    ready = threading.Event()

    def on_ready(port: int) -> None:
        bound.append(port)
        ready.set()

    server = threading.Thread(
        target=listen,
        args=(settings, "127.0.0.1", 0, "RADLAKE", storage, stop),
        kwargs={"flush_seconds": 0.5, "ready": on_ready},
        daemon=True,
    )
    server.start()
    try:
        assert ready.wait(60), "the listener did not start"
        port = bound[0]
        result = _storescu(port, sent)
        assert result.returncode == 0, result.stderr
        # Landed by the micro-batch (how soon is a bench figure, not a test: it depends on the machine).
        _wait_rows(settings, len(sent))

        files = {r["file_path"]: r for r in rows(settings, FILES)}
        assert {r["outcome"] for r in files.values()} == {"instance"}
        assert {r["source"] for r in files.values()} == {"dicom:MODALITY1"}
        stored = sorted(Path(p) for p in files)
        assert all(p.is_relative_to(storage / "MODALITY1") for p in stored)
        by_uid = {pydicom.dcmread(p).SOPInstanceUID: p for p in stored}
        for original in sent:
            uid = pydicom.dcmread(original).SOPInstanceUID
            assert _same_dataset(original, by_uid[uid])  # every element and the pixel data as sent
            # The stored file is what was checksummed and landed.
            assert files[str(by_uid[uid])]["sha256"] == sha256(by_uid[uid].read_bytes())
        inst = {r["sop_instance_uid"]: r for r in rows(settings, INSTANCES)}
        assert set(inst) == {f"{UID}.{i}" for i in range(1, 6)}
        assert inst[f"{UID}.1"]["patient_name"] == "TEST^PATIENT"

        # The same instance again: nothing new is stored or landed. Other bytes, same UID: a conflict.
        changed = _write(
            outbox / "changed", "IM1", dataset_bytes(make_dataset(f"{UID}.1", study="1", StudyDescription="CHANGED"))
        )
        result = _storescu(port, [sent[0], changed])
        assert result.returncode == 0, result.stderr
        _wait_rows(settings, len(sent) + 1)
        files = rows(settings, FILES)
        assert len(files) == len(sent) + 1
        conflict = [r for r in files if r["outcome"] == "conflict"]
        assert len(conflict) == 1 and conflict[0]["sop_instance_uid"] == f"{UID}.1"
        assert conflict[0]["landed_sha256"] == files_sha(files, f"{UID}.1", "instance")
        assert conflict[0]["sha256"] != conflict[0]["landed_sha256"]
        assert len(list((storage / "MODALITY1").rglob(f"{UID}.1*.dcm"))) == 2  # both kept

        # A folder ingest lands an instance while the receiver runs; then the PACS sends it too. The receiver
        # sees what the folder ingest landed: still one instance row for that UID.
        exported = _write(tmp_path / "export", "IM9", dataset_bytes(make_dataset(f"{UID}.9", study="1")))
        ingest_dicom(settings, [exported.parent], workers=0)
        result = _storescu(port, [exported])
        assert result.returncode == 0, result.stderr
        _wait_rows(settings, len(sent) + 3)
        assert [r["sop_instance_uid"] for r in rows(settings, INSTANCES)].count(f"{UID}.9") == 1
        received = [r for r in rows(settings, FILES) if r["sop_instance_uid"] == f"{UID}.9" and r["source"] != "folder"]
        assert len(received) == 1 and received[0]["outcome"] in ("duplicate", "conflict")
    finally:
        stop.set()
        server.join(60)
    assert not server.is_alive()


def files_sha(files: list[dict], uid: str, outcome: str) -> str:
    return next(r["sha256"] for r in files if r["sop_instance_uid"] == uid and r["outcome"] == outcome)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sigterm_lands_the_current_micro_batch(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    storage = tmp_path / "received"
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from cli.main import main; main()",
            "dicom",
            "listen",
            "--port",
            str(port),
            "--ae-title",
            "RADLAKE",
            "--storage",
            str(storage),
            "--host",
            "127.0.0.1",
            "--lake",
            str(lake),
            "--flush-seconds",
            "600",
        ],  # nothing is committed before the SIGTERM
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "listener did not open its port"
            time.sleep(0.2)
        outbox = tmp_path / "outbox"
        sent = [_write(outbox, f"IM{i}", dataset_bytes(make_dataset(f"{UID}.9{i}", study="2"))) for i in range(3)]
        result = _storescu(port, sent, calling="CT_SCANNER")
        assert result.returncode == 0, result.stderr
        assert not (lake / "bronze" / "dicom_files").exists()  # still in the micro-batch
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    settings = Settings(lake=str(lake))
    landed = rows(settings, FILES)
    assert sorted(r["sop_instance_uid"] for r in landed) == [f"{UID}.9{i}" for i in range(3)]
    assert {r["source"] for r in landed} == {"dicom:CT_SCANNER"}
    assert len(rows(settings, INSTANCES)) == 3
