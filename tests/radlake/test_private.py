"""The stewards' file, the quality pages and the state folder: owner-only, and never in the analysts' folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from radlake.config import Settings
from radlake.warehouse import dbt_env


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A careless host's umask (0022: new folders 0755); the folders must be closed whatever it is."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


@pytest.mark.parametrize("lake", ["local", "s3"])
def test_default_layout_keeps_stewards_and_state_out_of_the_analysts_folder(tmp_path: Path, lake: str) -> None:
    if lake == "s3":
        settings = Settings(lake="s3://bucket/lake", warehouse=str(tmp_path / "gold" / "radlake.duckdb"))
    else:
        settings = Settings(lake=str(tmp_path / "lake"))
    analysts = Path(settings.warehouse_path).parent
    for private in (Path(settings.stewards_warehouse_path), settings.quality_dir, settings.state_dir):
        assert not _inside(private, analysts), f"{private} is inside the analysts' folder {analysts}"
    assert not _inside(analysts, settings.state_dir) and not _inside(analysts, settings.stewards_dir)


def test_each_writer_makes_its_folder_owner_only(tmp_path: Path, open_umask: None) -> None:
    from ingestion.cdc.status import record_sync
    from ingestion.dicom.landing import ingest_lock
    from transforms.empi.job import _save_model

    settings = Settings(lake=str(tmp_path / "lake"))
    # A state folder an earlier version (or an operator) left open is closed on the next use.
    settings.state_dir.mkdir(parents=True, mode=0o755)
    os.chmod(settings.state_dir, 0o755)
    with ingest_lock(settings, timeout=0):
        pass
    record_sync(settings, "ris", error="test")
    _save_model(settings.state_dir / "empi" / "model.json", {"m": 1})
    dbt_env(settings)
    for folder in (settings.state_dir, settings.state_dir / "cdc", settings.state_dir / "empi", settings.stewards_dir):
        assert _mode(folder) == 0o700, f"{folder}: {oct(_mode(folder))}"
    assert _mode(settings.state_dir / "dicom-ingest.lock") & 0o077 == 0
    assert _mode(Path(settings.warehouse_path).parent) == 0o755  # the analysts' folder stays shareable
