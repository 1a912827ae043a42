"""A tiny hand-made lake and the marts dbt builds from it, shared by the gold tests."""

from __future__ import annotations

import pytest

from radlake.config import PrivacyConfig, Settings
from tests.gold.dbt_cli import BuiltGold, run_dbt
from tests.gold.tiny_lake import build_tiny_lake


@pytest.fixture(scope="session")
def gold(spark, tmp_path_factory: pytest.TempPathFactory) -> BuiltGold:
    """``dbt build`` (seeds, marts, data tests, unit tests, singular tests) over the tiny lake."""
    root = tmp_path_factory.mktemp("gold")
    # The tiny lake's figures are single exams, checked by hand: the minimum cell size is off here (1);
    # tests/gold/test_small_cells.py builds the same lake with the default (5).
    settings = Settings(lake=str(root / "lake"), privacy=PrivacyConfig(min_cell=1))
    build_tiny_lake(spark, settings)
    code, output, results = run_dbt(settings, ["build"], root / "dbt")
    return BuiltGold(settings=settings, work=root / "dbt", returncode=code, output=output, results=results)
