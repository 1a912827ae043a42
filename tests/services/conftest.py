"""Fixtures for the data services: settings with two spaces on a fresh lake."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from radlake.config import Settings

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture()
def service_settings(tmp_path: Path) -> Settings:
    """A lake with an identified space ``group`` and a pseudonymized ``research`` space."""
    return Settings(
        lake=str(tmp_path / "lake"),
        spaces={
            "group": {"identified": True, "description": "every institution"},
            "research": {"identified": False, "institutions": ["h01"]},
        },
        serve={"rate_per_minute": 30, "audit_flush_seconds": 0.2},
    )
