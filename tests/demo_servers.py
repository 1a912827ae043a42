"""Stopping a test demo's simulated RIS: its embedded PostgreSQL servers outlive the demo's folder otherwise."""

from __future__ import annotations

from pathlib import Path


def stop_demo_postgres(workdir: Path) -> None:
    """Stop the embedded PostgreSQL servers of the demo in ``workdir`` that still run (none: nothing happens)."""
    from radlake.config import load_settings
    from radlake.postgres import stop_embedded_server

    config = workdir / "radlake.yaml"
    if not config.is_file():
        return
    for source in load_settings(config).sources.values():
        if source.embedded_pgdata and (source.embedded_pgdata / "postmaster.pid").exists():
            stop_embedded_server(source.embedded_pgdata)
