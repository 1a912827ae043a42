"""Folders only their owner may open: the state folder and the stewards' folder (0700, made so on every use).

Both sit outside the analysts' folder by default (see :class:`radlake.config.Settings`): the state folder holds
the EMPI's feature cache (names, ID numbers), the stewards' folder the stewards' DuckDB file (exam key →
accession number) and the quality pages. Whoever creates them first (an ingest, a CDC sync, a dbt build, a
quality run), they are created owner-only, and a folder found more open is closed again.
"""

from __future__ import annotations

import os
from pathlib import Path

from radlake.config import Settings

OWNER_ONLY = 0o700


def owner_only_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700; returns it.

    Parents radlake did not create keep their mode: only the folder itself is closed.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=OWNER_ONLY)
    if path.stat().st_mode & 0o777 != OWNER_ONLY:
        os.chmod(path, OWNER_ONLY)
    return path


def state_folder(settings: Settings, *parts: str) -> Path:
    """``<state_dir>/<parts...>``, created, with the state folder and each part owner-only."""
    path = owner_only_dir(settings.state_dir)
    for part in parts:
        path = owner_only_dir(path / part)
    return path


def stewards_folder(settings: Settings) -> Path:
    """The stewards' folder (:attr:`Settings.stewards_dir`), created owner-only."""
    return owner_only_dir(settings.stewards_dir)


def restrict_file(path: str | Path) -> None:
    """Make an existing file (and DuckDB's ``.wal`` beside it) readable by its owner only."""
    for p in (Path(path), Path(f"{path}.wal")):
        if p.is_file():
            os.chmod(p, 0o600)
