"""Writers take turns across runs and pods: every asset that writes a lake table sits in its writer's pool.

Dagster concurrency pools hold for asset jobs, backfills and "Materialize all" alike (a run tag does not),
and the instance's one slot per pool (``concurrency: pools: default_limit: 1``) makes two runs of one writer
wait for each other, wherever they run. Delta's optimistic commits stay the second guard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from radlake import catalog
from radlake.config import load_settings, write_settings

ROOT = Path(__file__).resolve().parents[2]
INFRA_DAGSTER = ROOT / "infra" / "dagster" / "dagster.yaml"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_settings(
        {
            "lake": str(tmp_path / "lake"),
            "warehouse": str(tmp_path / "gold" / "radlake.duckdb"),
            "sources": {"ris_h01": {"dsn": "postgresql://x@db/ris", "tables": ["exam_orders", "patients"]}},
        },
        tmp_path / "radlake.yaml",
    )


def _expected_pool(path: tuple[str, ...]) -> str | None:
    layer, name = path
    try:
        return catalog.writer_pool(catalog.table(layer, name))  # type: ignore[arg-type]
    except KeyError:
        source = name.split("__", 1)[0] if "__" in name else name
        return catalog.cdc_pool(source)


def test_every_asset_that_writes_a_lake_table_is_in_its_writers_pool(config: Path) -> None:
    from orchestration.definitions import build_definitions

    graph = build_definitions(load_settings(config)).resolve_asset_graph()
    checked = 0
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable or key.path[0] not in ("bronze", "silver"):
            continue
        assets_def = node.assets_def
        pools = {assets_def.get_op_def_for_asset_key(key).pool}
        assert pools == {_expected_pool(tuple(key.path))}, (key.to_user_string(), pools)
        checked += 1
    assert checked >= 10


def test_the_deployed_instance_gives_each_pool_one_slot() -> None:
    conf = yaml.safe_load(INFRA_DAGSTER.read_text(encoding="utf-8"))
    assert conf["concurrency"]["pools"]["default_limit"] == 1


RUN = textwrap.dedent(
    """
    import json, sys
    import dagster as dg
    from orchestration.resources import RadlakeResource
    from orchestration.silver.assets import dicom_rollups_asset
    from radlake.config import load_settings

    result = dg.materialize(
        [dicom_rollups_asset(load_settings(sys.argv[1]))],
        instance=dg.DagsterInstance.get(),
        resources={"radlake": RadlakeResource(config_path=sys.argv[1])},
        raise_on_error=False,
    )
    print(json.dumps({"run_id": result.run_id, "success": result.success}))
    """
)


@pytest.mark.slow
def test_two_runs_of_one_writer_take_turns(config: Path, tmp_path: Path) -> None:
    """Two runs of the DICOM roll-ups (which replace silver/dicom_series and dicom_studies) launched at once."""
    import dagster as dg

    from ingestion.dicom.api import ingest_dicom

    sys.path.insert(0, str(ROOT / "tests" / "dicom"))
    from dicom_corpus import UID_ROOT, make_dataset

    settings = load_settings(config)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        make_dataset(f"{UID_ROOT}.5.{i + 1}", study=f"5{i}").save_as(folder / f"{i}.dcm", enforce_file_format=True)
    ingest_dicom(settings, [folder], workers=0)

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n")
    env = dict(os.environ, DAGSTER_HOME=str(home), PYTHONPATH=str(ROOT), RUST_LOG="error")
    # The storage made once here: two processes creating a new instance's tables at once race in its migrations
    # (alembic "more than one head"), as two pods never do against a deployed PostgreSQL.
    with dg.DagsterInstance.from_config(str(home)) as made:
        made.get_runs(limit=1)  # touches the run and event storages, which creates them
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(r["success"] for r in results), results

    instance = dg.DagsterInstance.from_config(str(home))
    windows = []
    for r in results:
        events = instance.all_logs(r["run_id"])
        starts = [e.timestamp for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"]
        ends = [e.timestamp for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"]
        windows.append((min(starts), max(ends)))
    (_, first_end), (second_start, _) = sorted(windows)
    assert first_end <= second_start, f"the two writers ran at once: {windows}"
    # Both replaced the tables: one commit each, one after the other.
    from radlake import lake

    for name in ("dicom_series", "dicom_studies"):
        assert lake.table_version(settings, catalog.table_uri(settings, catalog.table("silver", name))) == 1
