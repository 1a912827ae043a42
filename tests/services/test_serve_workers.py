"""``radlake serve`` with ``serve.workers: 2``: two processes answer from one index file each built once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest
from service_harness import free_port, wait_healthy

from radlake.config import load_settings
from radlake.lake import Lake
from services import issue_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RADLAKE = Path(sys.executable).parent / "radlake"


def _open_index_files(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if "/serve_index/" in target and target.endswith(".duckdb"):
            out.add(target)
    return out


def test_workers_share_one_index_file(dicomweb_lake, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "radlake.yaml"
    config.write_text(
        f"lake: {dicomweb_lake.lake}\nwarehouse: {tmp_path / 'wh' / 'analysts.duckdb'}\n"
        "spaces:\n  group:\n    identified: true\n"
        f"serve:\n  port: {port}\n  workers: 2\n  tokens_file: {tmp_path / 'tokens.json'}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    token = issue_token(settings, "group")
    started = datetime.now(UTC)  # the lake is shared with other tests, which leave audit rows of their own
    server = subprocess.Popen([str(RADLAKE), "serve", "--config", str(config)], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server, 120)
        counts = set()
        for _ in range(12):  # new connections each time, so both processes answer some
            r = httpx.get(f"{base}/spaces/group/dicomweb/studies", params={"limit": 100},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert r.status_code == 200
            counts.add(len(r.json()))
        assert counts == {len(dicomweb_lake.studies)}
        workers = psutil.Process(server.pid).children(recursive=True)
        opened = [_open_index_files(w.pid) for w in workers]
        folder = settings.state_dir / "serve_index"
        assert folder.is_relative_to(tmp_path)
        # Each index generation was built once, as one file, and every process that serves it has that file open.
        lake_files = sorted(p.name for p in folder.glob("lake-*.duckdb"))
        assert len(lake_files) == 1 and not list(folder.glob("*.partial"))
        holding = [o for o in opened if any(f.endswith(lake_files[0]) for f in o)]
        assert len(holding) == 2
        dicomweb_files = list(folder.glob("dicomweb-*.duckdb"))
        assert len(dicomweb_files) == 1
        assert all(f.endswith(dicomweb_files[0].name) for o in opened for f in o if "/dicomweb-" in f)
    finally:
        server.terminate()
        server.wait(timeout=60)
    # Each process landed its own audit rows when it stopped: none of the twelve answered requests is missing
    # (with one shared Delta app id, the later commit of two could be skipped as already landed).
    audit = Lake(settings).table("audit", "service_requests").read_arrow(["path", "status", "requested_at"])
    assert audit is not None
    answered = [
        r for r in audit.to_pylist() if r["path"] == "/spaces/group/dicomweb/studies" and r["requested_at"] >= started
    ]
    assert len(answered) == 12, f"{len(answered)} of the 12 answered requests have an audit row"
    assert {r["status"] for r in answered} == {200}
