"""A tiny hand-made lake and the marts dbt builds from it, shared by the gold tests."""

from __future__ import annotations

import pytest

from radlake.config import Settings
from tests.gold.dbt_cli import BuiltGold, run_dbt
from tests.gold.tiny_lake import build_tiny_lake


@pytest.fixture(scope="session")
def gold(spark, tmp_path_factory: pytest.TempPathFactory) -> BuiltGold:
    """``dbt build`` (seeds, marts, data tests, unit tests, singular tests) over the tiny lake."""
    root = tmp_path_factory.mktemp("gold")
    settings = Settings(lake=str(root / "lake"))
    build_tiny_lake(spark, settings)
    code, output, results = run_dbt(settings, ["build"], root / "dbt")
    return BuiltGold(settings=settings, work=root / "dbt", returncode=code, output=output, results=results)
