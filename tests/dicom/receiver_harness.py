"""Run the C-STORE receiver in a thread and send to it with DCMTK's storescu (shared by the receiver tests)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dicom_corpus import FILES, rows

from ingestion.dicom.admission import ReceiverMetrics
from ingestion.dicom.api import listen
from radlake.config import Settings


@contextmanager
def running_receiver(
    settings: Settings, storage: Path, flush_seconds: float = 0.3, metrics: ReceiverMetrics | None = None
) -> Iterator[int]:
    """Start ``listen`` on a free port of 127.0.0.1 as AE ``RADLAKE``; yield the port; stop it at the end."""
    stop = threading.Event()
    bound: list[int] = []
    ready = threading.Event()
    failed: list[BaseException] = []

    def on_ready(port: int) -> None:
        bound.append(port)
        ready.set()

    def run() -> None:
        try:
            listen(
                settings,
                "127.0.0.1",
                0,
                "RADLAKE",
                storage,
                stop,
                flush_seconds=flush_seconds,
                ready=on_ready,
                metrics=metrics,
            )
        except BaseException as exc:
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the listener did not start"
    if failed:
        raise failed[0]
    try:
        yield bound[0]
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    if failed:
        raise failed[0]


def storescu(port: int, files: list[Path], calling: str = "MODALITY1", *extra: str) -> subprocess.CompletedProcess:
    """Send ``files`` with DCMTK's storescu (``extra``: more options, e.g. TLS)."""
    return subprocess.run(
        ["storescu", *extra, "-aet", calling, "-aec", "RADLAKE", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition`` until true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.1)


def landed_files(settings: Settings) -> list[dict]:
    """Rows of bronze/dicom_files (empty when the table does not exist yet)."""
    if not (Path(settings.lake) / "bronze" / "dicom_files" / "_delta_log").exists():
        return []
    return rows(settings, FILES)


def stored_files(storage: Path) -> list[Path]:
    """Instances in the storage folder (not partial files)."""
    return sorted(p for p in storage.rglob("*.dcm") if p.is_file())
