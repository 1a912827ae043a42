"""Thin CLI commands, one module per topic; each resolves config and calls a library function."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="radlake.yaml to use.", envvar="RADLAKE_CONFIG", show_envvar=True),
]
"""The ``--config`` option every command takes (else ``$RADLAKE_CONFIG``, else ``./radlake.yaml``)."""

LakeOption = Annotated[str | None, typer.Option("--lake", help="Lake location (path or s3://bucket/prefix).")]
"""The ``--lake`` option: overrides the config's lake."""


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and Ctrl-C set: long-running services stop cleanly on it."""
    import signal

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
