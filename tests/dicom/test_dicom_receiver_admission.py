"""The receiver under a slow-connection attack: idle TCP connections and too many associations cannot lock
allowed modalities out, and every refusal is counted in the metrics (DCMTK's storescu as the real peer)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from dicom_corpus import dataset_bytes, make_dataset
from receiver_harness import landed_files, running_receiver, stored_files, storescu, wait_for

from ingestion.dicom.admission import ReceiverMetrics
from radlake.config import DicomConfig, ReceiverConfig, Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("storescu") is None, reason="needs DCMTK's storescu (apt-get install dcmtk)"),
]
UID = "1.2.826.0.1.3680043.10.543.132"


def _outbox(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"IM{i}"
        path.write_bytes(dataset_bytes(make_dataset(f"{UID}.{i}")))
        out.append(path)
    return out


@pytest.mark.slow
def test_idle_connections_reopened_all_along_do_not_lock_allowed_modalities_out(tmp_path: Path) -> None:
    settings = Settings(
        lake=str(tmp_path / "lake"),
        dicom=DicomConfig(receiver=ReceiverConfig(allowed_calling_aets=["CT_SCANNER"])),
    )
    storage = tmp_path / "received"
    metrics = ReceiverMetrics()
    sent = _outbox(tmp_path / "out", 3)
    with running_receiver(settings, storage, metrics=metrics) as port:
        stop = threading.Event()
        opened = [0]

        def attack() -> None:
            # 12 raw connections that never send a byte, re-opened as soon as one is closed (bounded: 60 s,
            # at most 2,000 connections, loopback only); it goes on until the stores are done.
            held: list[socket.socket] = []
            deadline = time.monotonic() + 60
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    held = [s for s in held if _alive(s)]
                    while len(held) < 12 and opened[0] < 2000:
                        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                        opened[0] += 1
                    time.sleep(0.05)
            finally:
                for s in held:
                    s.close()

        attacker = threading.Thread(target=attack, daemon=True)
        attacker.start()
        try:
            wait_for(lambda: opened[0] >= 12, what="12 idle connections")
            time.sleep(0.5)
            results = []
            for path in sent:  # one association each, while the attack goes on
                results.append(storescu(port, [path], "CT_SCANNER"))
            assert attacker.is_alive(), "the attack ended before the stores were tried"
        finally:
            stop.set()
            attacker.join(30)
        for result in results:
            assert result.returncode == 0, result.stdout + result.stderr
        wait_for(lambda: len(landed_files(settings)) == 3, what="3 landed files")
    assert len(stored_files(storage)) == 3
    assert metrics.get("connections_dropped", "no_association_request") >= 4  # 12 idle, 8 may wait
    assert metrics.get("associations_accepted") == 3
    written = (settings.state_dir / "metrics").glob("dicom-receiver-*.prom")
    text = next(written).read_text()
    assert 'radlake_dicom_connections_dropped_total{reason="no_association_request"}' in text


def _alive(sock: socket.socket) -> bool:
    """Whether the receiver still holds the connection (a closed one reads as end of stream)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


@pytest.mark.slow
def test_associations_past_the_per_host_limit_are_rejected_and_counted(tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    settings = Settings(
        lake=str(tmp_path / "lake"), dicom=DicomConfig(receiver=ReceiverConfig(max_associations_per_host=2))
    )
    metrics = ReceiverMetrics()
    with running_receiver(settings, tmp_path / "received", metrics=metrics) as port:
        scu = AE(ae_title="HOLDER")
        scu.add_requested_context(Verification)
        held = [scu.associate("127.0.0.1", port, ae_title="RADLAKE") for _ in range(2)]
        try:
            assert all(a.is_established for a in held)
            third = storescu(port, _outbox(tmp_path / "out", 1), "CT_SCANNER")
            assert third.returncode != 0
            assert "reject" in (third.stdout + third.stderr).lower()
        finally:
            for a in held:
                a.release()
        assert storescu(port, _outbox(tmp_path / "out", 1), "CT_SCANNER").returncode == 0
    assert metrics.get("associations_rejected", "too_many_associations_from_host") == 1
