"""The whole pipeline on Sail's distributed engine (local-cluster mode, tests/cluster/conftest.py: driver, workers
and shuffles in one server process) gives every silver table and every mart of the embedded run, row for row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from radlake.config import load_settings
from tests.demo_servers import stop_demo_postgres
from tests.pipeline_equality import assert_same_pipeline


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(1800)  # two whole pipeline runs (the shared embedded one may be set up here)
def test_pipeline_on_a_sail_cluster_equals_the_embedded_run(demo_run, demo_size, sail_cluster, tmp_path: Path) -> None:
    from orchestration.demo import PSEUDONYM_KEY_FILE, run_demo

    embedded_dir, embedded = demo_run
    assert embedded.success
    cluster_dir = tmp_path / "cluster"
    cluster_dir.mkdir()
    # The same pseudonym key: pseudonyms are then comparable across the two runs.
    shutil.copy(embedded_dir / PSEUDONYM_KEY_FILE, cluster_dir / PSEUDONYM_KEY_FILE)

    try:
        cluster = run_demo(cluster_dir, spark=sail_cluster, **demo_size)

        assert cluster.success, cluster.checks
        assert load_settings(cluster.config).spark == sail_cluster
        assert_same_pipeline(embedded_dir, embedded, cluster_dir, cluster)
    finally:
        stop_demo_postgres(cluster_dir)
