"""The whole pipeline on Sail's distributed engine (local-cluster mode, tests/cluster/conftest.py: driver, workers
and shuffles in one server process) gives every silver table and every mart of the embedded run, row for row."""

from __future__ import annotations

import pytest

from radlake.config import load_settings
from tests.pipeline_equality import assert_same_pipeline


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(1800)  # two whole pipeline runs (the shared embedded one may be set up here)
def test_pipeline_on_a_sail_cluster_equals_the_embedded_run(cluster_demo, demo_run, sail_cluster) -> None:
    # cluster_demo first: the cluster run starts in its own process before the shared embedded run is set up
    # here, and the two overlap (tests/cluster/conftest.py).
    embedded_dir, embedded = demo_run
    assert embedded.success
    cluster = cluster_demo.result(timeout=1500)

    assert cluster.success, cluster.checks
    assert load_settings(cluster.config).spark == sail_cluster
    assert_same_pipeline(embedded_dir, embedded, cluster_demo.workdir, cluster)
