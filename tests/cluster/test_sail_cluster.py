"""The whole pipeline on Sail's distributed engine (local-cluster mode, tests/cluster/conftest.py: driver, workers
and shuffles in one server process) gives every silver table and every mart of the embedded run, row for row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from radlake import lake
from radlake.config import load_settings

# Values that say when or where a row was made, not what it holds: they differ between any two runs (an EMPI
# event's id is stamped with its run's time).
VOLATILE = {
    "first_seen_at", "ingested_at", "last_ingested_at", "mapped_at", "decided_at", "built_at", "run_at",
    "event_id", "occurred_at", "linked_at", "queued_at",
}  # fmt: skip
# Run times under a name that elsewhere holds source data (a RIS row's updated_at is compared).
VOLATILE_IN = {"silver/patient_golden": {"updated_at"}}


def _rows(table, workdir: Path, key: str = "") -> list[tuple]:
    keep = [c for c in table.column_names if c not in VOLATILE | VOLATILE_IN.get(key, set())]
    columns = [table[c].to_pylist() for c in keep]
    prefix = str(workdir.resolve())
    return sorted(
        tuple("<null>" if v is None else str(v).replace(prefix, "<workdir>") for v in row)
        for row in zip(*columns, strict=True)
    )


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(1800)  # two whole pipeline runs (the shared embedded one may be set up here)
def test_pipeline_on_a_sail_cluster_equals_the_embedded_run(demo_run, demo_size, sail_cluster, tmp_path: Path) -> None:
    from orchestration.demo import PSEUDONYM_KEY_FILE, run_demo
    from radlake import warehouse

    embedded_dir, embedded = demo_run
    assert embedded.success
    cluster_dir = tmp_path / "cluster"
    cluster_dir.mkdir()
    # The same pseudonym key: pseudonyms are then comparable across the two runs.
    shutil.copy(embedded_dir / PSEUDONYM_KEY_FILE, cluster_dir / PSEUDONYM_KEY_FILE)

    cluster = run_demo(cluster_dir, spark=sail_cluster, **demo_size)

    assert cluster.success, cluster.checks
    a, b = load_settings(embedded.config), load_settings(cluster.config)
    assert b.spark == sail_cluster
    silver = sorted(k for k in embedded.tables if k.startswith("silver/"))
    assert silver and sorted(k for k in cluster.tables if k.startswith("silver/")) == silver
    for key in silver:
        left = lake.read_arrow(a, f"{a.lake}/{key}")
        right = lake.read_arrow(b, f"{b.lake}/{key}")
        assert left.num_rows == right.num_rows, key
        assert _rows(left, embedded_dir, key) == _rows(right, cluster_dir, key), key
    assert cluster.marts == embedded.marts
    for stewards in (False, True):
        with warehouse.connect(a, stewards=stewards) as con_a, warehouse.connect(b, stewards=stewards) as con_b:
            names = [r[0] for r in con_a.execute("select table_name from information_schema.tables").fetchall()]
            assert names
            for name in names:
                left = con_a.execute(f'select * from "{name}"').fetch_arrow_table()
                right = con_b.execute(f'select * from "{name}"').fetch_arrow_table()
                assert _rows(left, embedded_dir) == _rows(right, cluster_dir), name
