"""The SQL endpoint in a thread of the test process, over a published copy of the gold fixture's marts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radlake import publish
from radlake.config import Settings
from sqlendpoint.accounts import create_account
from sqlendpoint.server import SqlServer


@dataclass
class RunningServer:
    """A started endpoint: where it listens, its settings and the passwords of its two accounts."""

    settings: Settings
    port: int
    passwords: dict[str, str]
    server: SqlServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def stop(self) -> None:
        """Close it (flushes the audit rows) and end its thread."""
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 made by Debian's openssl."""
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def publish_copy(source: Settings, root: Path, **settings: Any) -> Settings:
    """Settings of a new warehouse folder under ``root`` whose published build holds ``source``'s two files."""
    target = Settings(lake=source.lake, warehouse=str(root / "gold" / "radlake.duckdb"), **settings)
    build = publish.begin_build(target)
    shutil.copyfile(source.warehouse_path, build.analysts)
    shutil.copyfile(source.stewards_warehouse_path, build.stewards)
    publish.publish_build(target, build)
    return target


def start(settings: Settings) -> RunningServer:
    """Accounts ``ana`` (space analysts) and ``stew`` (space stewards), then the endpoint on a free port."""
    passwords = {
        "ana": create_account(settings, "ana", "analysts"),
        "stew": create_account(settings, "stew", "stewards"),
    }
    loop = asyncio.new_event_loop()
    server = SqlServer(settings, host="127.0.0.1", port=0)
    ready = threading.Event()
    port: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        port.append(loop.run_until_complete(server.start()))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    return RunningServer(settings, port[0], passwords, server, loop, thread)
