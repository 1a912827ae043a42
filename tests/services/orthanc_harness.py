"""A real Orthanc with its DICOMweb plugin (Debian's ``orthanc`` + ``orthanc-dicomweb``) for tests and benches:
a temporary configuration on free loopback ports, its own storage, stopped when the block ends."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from service_harness import free_port


def dicomweb_plugin() -> str:
    """The plugin's path as the Debian package installed it."""
    listed = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=True).stdout
    found = [line for line in listed.splitlines() if line.endswith(".so") and "plugins" in line]
    if not found:
        raise RuntimeError("orthanc-dicomweb is not installed (make sysdeps)")
    return found[0]


@contextmanager
def orthanc(workdir: Path, *, threads: int = 16) -> Iterator[str]:
    """Run Orthanc until the block ends; yields its HTTP base URL (``http://127.0.0.1:PORT``).

    Orthanc 1.10 cannot bind one address: it listens on every interface with remote access refused
    (``RemoteAccessAllowed: false``) and its DICOM server off.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "Name": "radlake-compare",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpThreadsCount": threads,
        "SaveJobs": False,
        "Plugins": [dicomweb_plugin()],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }
    path = workdir / "orthanc.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    log = (workdir / "orthanc.log").open("wb")
    proc = subprocess.Popen(["Orthanc", str(path)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Orthanc stopped at start (see {workdir / 'orthanc.log'})")
            try:
                if httpx.get(base + "/system", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Orthanc did not start within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def upload(base: str, items: Iterable[Path | bytes], *, deadline: float | None = None, threads: int = 1) -> int:
    """Store files (paths or bytes) in Orthanc through its REST API, ``threads`` at a time, in order; returns how
    many it accepted (a prefix of ``items`` when it stops at ``deadline``)."""
    lock = threading.Lock()
    source = iter(items)
    stored = 0

    def work() -> None:
        nonlocal stored
        with httpx.Client(base_url=base, timeout=120) as client:
            while deadline is None or time.monotonic() < deadline:
                with lock:
                    item = next(source, None)
                if item is None:
                    return
                body = item if isinstance(item, bytes) else Path(item).read_bytes()
                if client.post("/instances", content=body).status_code == 200:
                    with lock:
                        stored += 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return stored
