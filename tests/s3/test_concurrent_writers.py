"""Four processes write one S3 lake at once: no commit is lost, none is doubled, the log has no gap.

Two folder ingests of different folders, a receiver-like lander and the CDC writers (change log, MERGE) run as separate
processes (each with its own local state folder, as pods would: no shared lock file). Commits race for the
same table versions on S3 (moto); delta-rs and Sail create each log entry with a conditional put and
radlake retries a commit that lost. Truth is computed from the inputs, not from the lake.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dicom_s3 import write_instances

from radlake import lake
from radlake.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRITER = Path(__file__).with_name("lake_writer.py")
ROOT = Path(__file__).resolve().parents[2]
FILES_PER_FOLDER = 24
CDC_BATCHES = 6


def _log_versions(s3_keys, uri: str) -> list[int]:
    keys = s3_keys(f"{uri}/_delta_log/")
    return sorted(int(Path(k).name.split(".")[0]) for k in keys if k.endswith(".json"))


def test_four_writers_on_one_s3_lake_lose_and_double_nothing(
    s3_settings: Settings, s3_keys, moto_log: Path, tmp_path: Path
) -> None:
    folders = {name: tmp_path / "in" / name for name in ("a", "b", "c")}
    truth = {
        name: set(write_instances(folder, FILES_PER_FOLDER, tag=tag))
        for tag, (name, folder) in enumerate(folders.items(), start=7)
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT), RUST_LOG="error")
    jobs = [
        ("folder", str(folders["a"])),
        ("folder", str(folders["b"])),
        ("receiver", str(folders["c"])),
        ("cdc", str(CDC_BATCHES)),
    ]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), role, s3_settings.lake, str(tmp_path / f"pod{i}"), arg],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for i, (role, arg) in enumerate(jobs)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - started

    # Every instance of every writer, once.
    instances = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/dicom_instances", ["sop_instance_uid"])
    files = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/dicom_files", ["file_path", "outcome"])
    sops = instances.column("sop_instance_uid").to_pylist()
    expected = set().union(*truth.values())
    assert len(sops) == len(set(sops)), "an instance landed twice"
    assert set(sops) == expected, f"missing {len(expected - set(sops))}, extra {len(set(sops) - expected)}"
    paths = files.column("file_path").to_pylist()
    assert len(paths) == len(set(paths)) == 3 * FILES_PER_FOLDER
    assert set(files.column("outcome").to_pylist()) == {"instance"}

    # The change log holds each batch once; silver holds each key's last value (computed from the batches).
    log = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/sim__orders", ["_batch_id", "order_id"])
    assert sorted(log.column("_batch_id").to_pylist()) == sorted(
        v for v in range(1, CDC_BATCHES + 1) for _ in range(20)
    )
    want = {}
    for v in range(1, CDC_BATCHES + 1):
        want.update({k: f"v{v}" for k in range(v * 10, v * 10 + 20)})
    silver = lake.read_arrow(s3_settings, f"{s3_settings.lake}/silver/sim__orders")
    assert dict(zip(silver.column("order_id").to_pylist(), silver.column("status").to_pylist(), strict=True)) == want
    assert lake.committed_version(s3_settings, f"{s3_settings.lake}/silver/sim__orders", "radlake-cdc:sim:orders") == (
        CDC_BATCHES
    )

    # Each table's log is 0..N without a gap or an overwritten entry.
    for name in ("bronze/dicom_instances", "bronze/dicom_files", "bronze/sim__orders", "silver/sim__orders"):
        uri = f"{s3_settings.lake}/{name}"
        versions = _log_versions(s3_keys, uri)
        assert versions == list(range(len(versions))), (name, versions)
        assert versions[-1] == lake.table_version(s3_settings, uri), name

    # The writers really overlapped: the files table's batches alternate between the three DICOM writers.
    landed = lake.read_arrow(s3_settings, f"{s3_settings.lake}/bronze/dicom_files", ["file_path", "first_seen_at"])
    order = sorted(zip(landed.column("first_seen_at").to_pylist(), landed.column("file_path").to_pylist(), strict=True))
    writers = [Path(p).parent.name for _, p in order]
    switches = sum(1 for x, y in itertools.pairwise(writers) if x != y)
    assert switches >= 3, f"the writers did not overlap: {writers}"

    commits = sum(r["commits"] for r in reports)
    retries = sum(r["retries"] for r in reports)
    window = max(r["seconds"] for r in reports)
    bucket = s3_settings.lake.removeprefix("s3://").split("/")[0]
    lost = 0
    if moto_log.exists():
        lines = moto_log.read_text(errors="replace").splitlines()
        lost = sum(1 for ln in lines if f"/{bucket}/" in ln and "_delta_log" in ln and '" 412 ' in ln)
    print(
        f"\n4 writers on moto S3: {commits} commits, {commits / window:.1f} commits/s over the longest writer's "
        f"{window:.1f} s ({elapsed:.1f} s with process start); {lost} log puts refused (412: a lost race, "
        f"retried by delta-rs or Sail), {retries} conflicting commits retried by radlake.lake"
    )
