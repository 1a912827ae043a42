"""Run the services under uvicorn: one process, or ``serve.workers`` processes sharing read-only index files."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from radlake.config import Settings, load_settings
from services.app import create_app

HEALTHCHECK_SECONDS = 120
CONFIG_ENV = "RADLAKE_SERVE_CONFIG"
"""How ``radlake serve`` tells its worker processes which config file to read (empty: the default one)."""


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory; each worker reads the config itself)."""
    return create_app(load_settings(os.environ.get(CONFIG_ENV) or None))


def serve(settings: Settings, config: str | Path | None, host: str | None, port: int | None) -> None:
    """Serve until stopped.

    Parameters
    ----------
    settings
        The loaded config (``serve.workers`` decides how many processes).
    config
        The file it was read from (None: the default), for the worker processes to read again.
    host, port
        Overrides of ``serve.host`` / ``serve.port``.
    """
    import uvicorn

    # No access log: every request has its row in the audit table. uvloop and httptools are named rather than
    # left to uvicorn's "auto", so a missing one is an error at start, not a silently slower server.
    options = {"host": host or settings.serve.host, "port": port or settings.serve.port, "log_level": "warning",
               "server_header": False, "access_log": False, "loop": "uvloop", "http": "httptools"}  # fmt: skip
    if settings.serve.workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    os.environ[CONFIG_ENV] = str(Path(config).resolve()) if config else ""
    # uvicorn restarts a worker that does not answer its supervisor's ping in time (5 s by default); a worker
    # building an index generation on a loaded machine may be that slow, and a restart would only start over.
    uvicorn.run(
        "services.serving:worker_app",
        factory=True,
        workers=settings.serve.workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        **options,  # type: ignore[arg-type]
    )
