"""A real ``radlake serve`` for tests: uvicorn on a free loopback port in a thread, reached over a socket."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_healthy(base: str, server: subprocess.Popen, seconds: float) -> None:
    """Wait until a ``radlake serve`` subprocess answers ``/health``; RuntimeError if it exits or takes longer."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("radlake serve did not start")
        time.sleep(0.3)


def tree_usage(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and proportional memory (PSS bytes) of a process and its children now;
    a child that exits meanwhile is left out."""
    import psutil

    root = psutil.Process(pid)
    cpu, pss = 0.0, 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
            pss += proc.memory_full_info().pss
        except psutil.NoSuchProcess:
            continue
    return cpu, pss
