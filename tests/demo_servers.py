"""Stopping a test demo's simulated RIS: its embedded PostgreSQL servers outlive the demo's folder otherwise."""

from __future__ import annotations

from pathlib import Path


def stop_demo_postgres(workdir: Path) -> None:
    """``radlake demo --stop`` for the demo in ``workdir``, if one was set up there."""
    from cli.commands.demo import stop_servers

    if (workdir / "radlake.yaml").is_file():
        stop_servers(workdir)
