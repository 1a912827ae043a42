"""A tiny hand-made lake and the marts dbt builds from it, shared by the gold tests; the small-cells lake's build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from radlake.config import PrivacyConfig, Settings
from tests.gold.dbt_cli import BuiltGold, DbtRun, run_dbt
from tests.gold.small_cells_lake import build_small_cells_lake
from tests.gold.tiny_lake import build_tiny_lake


@pytest.fixture(scope="session")
def small_cells_build(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path, DbtRun]]:
    """The small-cells lake (privacy.min_cell at its default) and its ``dbt build``, going on in the background:
    settings, dbt's folder and the run (tests/gold/test_small_cells.py waits for it)."""
    root = tmp_path_factory.mktemp("small-cells")
    settings = Settings(lake=str(root / "lake"))
    build_small_cells_lake(spark, settings)
    run = DbtRun(settings, ["build"], root / "dbt")
    try:
        yield settings, root / "dbt", run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def gold(spark, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> BuiltGold:
    """``dbt build`` (seeds, marts, data tests, unit tests, singular tests) over the tiny lake.

    When the small-cells tests are selected, their build is started first: the two dbt builds (each mostly one
    busy process) overlap on the machine's two cores instead of following each other.
    """
    if any(item.path.name == "test_small_cells.py" for item in request.session.items):
        request.getfixturevalue("small_cells_build")
    root = tmp_path_factory.mktemp("gold")
    # The tiny lake's figures are single exams, checked by hand: the minimum cell size is off here (1);
    # tests/gold/test_small_cells.py builds the same lake with the default (5).
    settings = Settings(lake=str(root / "lake"), privacy=PrivacyConfig(min_cell=1))
    build_tiny_lake(spark, settings)
    code, output, results = run_dbt(settings, ["build"], root / "dbt")
    return BuiltGold(settings=settings, work=root / "dbt", returncode=code, output=output, results=results)
