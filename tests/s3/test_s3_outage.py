"""S3 goes away in the middle of a folder ingest, then comes back: one line, then a re-run lands exactly once.

The store is reached through a TCP relay in front of the moto server: the relay drops every connection and
refuses new ones at the moment the ingest sends its second commit of bronze/dicom_files (mid-batch, mid-
request), as a stopped S3 endpoint would; moto keeps what it had. Then the relay listens again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dicom_s3 import write_instances

from radlake import lake
from radlake.config import Settings, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Relay:
    """A TCP relay to ``upstream`` that goes down when the client stream has shown ``trigger`` ``after`` times."""

    def __init__(self, upstream: tuple[str, int], trigger: bytes, after: int) -> None:
        self.upstream, self.trigger, self.after = upstream, trigger, after
        self.seen = 0
        self.fired = False  # the outage happens once; after start() again the relay stays up
        self.down = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None

    def start(self) -> None:
        self.down.clear()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        self.down.set()
        with self._lock:
            for s in [*self._socks, self._listener]:
                if s is None:
                    continue
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._socks.clear()

    def _accept(self, listener: socket.socket) -> None:
        while not self.down.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while not self.down.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if watch:
                    window = tail + data
                    hits = window.count(self.trigger) - tail.count(self.trigger)
                    tail = window[-len(self.trigger) :]
                    if hits and not self.down.is_set():
                        with self._lock:
                            self.seen += hits
                            fire = self.seen >= self.after and not self.fired
                            self.fired |= fire
                        if fire:
                            # Half of this request reaches the store, then the endpoint is gone.
                            dst.sendall(data[: len(data) // 2])
                            self.stop()
                            return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


def _ingest(config: Path, folder: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, PYTHONPATH=str(ROOT), RUST_LOG="error")
    argv = [sys.executable, "-c", "from cli.main import main; main()", "ingest", "dicom", str(folder)]
    argv += ["--config", str(config), "--workers", "0", "--batch-files", "4", "--no-rollups", "--quiet"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def test_s3_outage_mid_batch_fails_in_one_line_and_a_rerun_lands_exactly_once(
    s3_settings: Settings, moto_endpoint: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    sops = write_instances(folder, 20, tag=31)
    config = write_settings({"lake": s3_settings.lake, "warehouse": s3_settings.warehouse}, tmp_path / "radlake.yaml")
    host, port = moto_endpoint.removeprefix("http://").split(":")
    bucket, _, prefix = s3_settings.lake.removeprefix("s3://").partition("/")
    trigger = f"PUT /{bucket}/{prefix}/bronze/dicom_files/_delta_log/".encode()
    relay = Relay((host, int(port)), trigger, after=2)
    relay.start()
    try:
        failed = _ingest(config, folder, f"http://127.0.0.1:{relay.port}")
        assert relay.down.is_set(), "the relay never saw the commit it was to cut"
        assert failed.returncode == 4, failed.stderr[-2000:]
        lines = [ln for ln in failed.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("radlake: error: "), failed.stderr[-2000:]
        assert "Traceback" not in failed.stderr

        # Mid-batch: some batches landed, not all (read straight from moto, past the relay).
        landed = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/dicom_instances", ["sop_instance_uid"])
        assert landed is not None and 0 < landed.num_rows < len(sops)

        relay.start()  # S3 is back
        again = _ingest(config, folder, f"http://127.0.0.1:{relay.port}")
        assert again.returncode == 0, again.stderr[-2000:]
    finally:
        relay.stop()

    instances = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/dicom_instances", ["sop_instance_uid"])
    files = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/dicom_files", ["file_path", "outcome"])
    got = instances.column("sop_instance_uid").to_pylist()
    assert sorted(got) == sorted(sops), "every instance exactly once"
    paths = files.column("file_path").to_pylist()
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())
    assert set(files.column("outcome").to_pylist()) == {"instance"}
