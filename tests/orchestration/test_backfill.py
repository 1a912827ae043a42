"""Ops backfill a date range from the command line: one run for the range, only those days rewritten."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from radlake import catalog, lake
from radlake.config import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def _days(settings) -> Counter[str]:
    data = lake.read_arrow(settings, catalog.table_uri(settings, catalog.table("silver", "exams")), ["exam_date"])
    assert data is not None
    return Counter(str(d) for d in data["exam_date"].to_pylist())


def _files_by_day(settings, uri: str) -> dict[str, set[str]]:
    """The data files of each exam_date partition of the current snapshot."""
    import pyarrow as pa

    actions = pa.table(lake.open_table(settings, uri).get_add_actions(flatten=True))
    out: dict[str, set[str]] = {}
    for path, day in zip(actions["path"].to_pylist(), actions["partition.exam_date"].to_pylist(), strict=True):
        out.setdefault(str(day), set()).add(path)
    return out


def test_backfill_from_the_cli_rewrites_only_its_days(demo_run) -> None:
    import dagster as dg

    workdir, summary = demo_run
    settings = load_settings(summary.config)
    first = settings.schedule.partitions_start
    # The demo's exams span two days: a one-day range leaves one day that must stay as it is.
    last = first
    uri = catalog.table_uri(settings, catalog.table("silver", "exams"))
    version_before = lake.table_version(settings, uri)
    days_before = _days(settings)
    files_before = _files_by_day(settings, uri)
    selected = {str(d) for d in (first, last)}
    assert selected <= set(files_before) and set(files_before) - selected, "the demo must have days outside the range"

    env = {**os.environ, "RADLAKE_CONFIG": str(summary.config), "DAGSTER_HOME": str(workdir / ".dagster")}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "orchestration.definitions",
            "--select",
            "silver/exams",
            "--partition-range",
            f"{first}...{last}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    # One replaceWhere commit for the whole range, and the same exams per day as before.
    assert lake.table_version(settings, uri) == version_before + 1
    assert _days(settings) == days_before
    # Only the selected days were rewritten: every other day keeps exactly its files, each selected day has new ones.
    files_after = _files_by_day(settings, uri)
    for day, files in files_before.items():
        if day in selected:
            assert files_after[day].isdisjoint(files), day
        else:
            assert files_after[day] == files, day

    with dg.DagsterInstance.from_config(str(workdir / ".dagster")) as instance:
        runs = instance.get_runs(limit=1)
        assert runs[0].tags.get("dagster/asset_partition_range_start") == str(first)
        assert runs[0].tags.get("dagster/asset_partition_range_end") == str(last)
        records = instance.fetch_materializations(dg.AssetKey(["silver", "exams"]), limit=100).records
        partitions = {r.partition_key for r in records if r.run_id == runs[0].run_id}
        assert partitions == selected
