"""The tiny hand-made lake of the gold tests, written fresh for each quality test that needs one."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlake.config import Settings, load_settings, write_settings
from tests.gold.tiny_lake import build_tiny_lake


@pytest.fixture
def tiny(spark, tmp_path: Path) -> tuple[Settings, Path]:
    """Settings and radlake.yaml of a fresh tiny lake (silver exams, name map, patient master, DICOM)."""
    config = write_settings({"lake": "lake"}, tmp_path / "radlake.yaml")
    settings = load_settings(config)
    build_tiny_lake(spark, settings)
    return settings, config
