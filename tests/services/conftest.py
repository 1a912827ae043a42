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


@pytest.fixture(scope="session")
def dicomweb_lake(tmp_path_factory: pytest.TempPathFactory, spark):
    """The DICOMweb tests' lake, built once per session (simulated export + named patients)."""
    from dicomweb_lake import build_lake

    return build_lake(tmp_path_factory.mktemp("dicomweb"), spark)


@pytest.fixture()
def dicomweb_settings(dicomweb_lake, tmp_path: Path) -> Settings:
    """Settings on that lake: ``group`` (identified), ``research`` (de-identified), ``ct`` (CT only, identified)."""
    from radlake.pseudonym import write_key_file

    return Settings(
        lake=str(dicomweb_lake.lake),
        pseudonym_key_file=str(write_key_file(tmp_path / "pseudonym.key")),
        spaces={
            "group": {"identified": True},
            "research": {"identified": False},
            "ct": {"identified": True, "modalities": ["CT"]},
        },
        serve={"tokens_file": str(tmp_path / "tokens.json"), "default_limit": 50, "max_limit": 50, "max_matches": 40,
               "audit_flush_seconds": 0.2},
    )  # fmt: skip
