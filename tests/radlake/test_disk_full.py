"""A local lake whose disk fills up: one-line error, no partial table, nothing already landed lost.

The lake lives on a 2 MiB tmpfs (mounted for the test; needs root). A first small ingest lands; a second one
brings headers larger than the space left: the run stops with one line, and the tables are exactly the first
run's (same version, same rows: the new data files are never referenced by the log).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from radlake import catalog, lake
from radlake.config import load_settings, write_settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "s3"))
from dicom_s3 import write_instances  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _ingest(config: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from cli.main import main; main()", "ingest", "dicom", str(folder)]
    argv += ["--config", str(config), "--workers", "0", "--no-rollups", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}  # as deployed: no Rust backtraces
    env |= {"PYTHONPATH": str(ROOT), "RUST_LOG": "error"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def test_disk_full_fails_in_one_line_and_leaves_the_tables_as_they_were(small_disk: Path, tmp_path: Path) -> None:
    config = write_settings(
        {"lake": str(small_disk / "lake"), "warehouse": str(tmp_path / "gold" / "radlake.duckdb")},
        tmp_path / "radlake.yaml",
    )
    settings = load_settings(config)
    first = write_instances(tmp_path / "small", 5, tag=41)
    done = _ingest(config, tmp_path / "small")
    assert done.returncode == 0, done.stderr
    uris = {
        spec.name: catalog.table_uri(settings, spec)
        for spec in (catalog.table("bronze", n) for n in ("dicom_files", "dicom_instances"))
    }
    before = {name: lake.table_version(settings, uri) for name, uri in uris.items()}

    write_instances(tmp_path / "big", 40, tag=42, pad=60_000)  # ~2.4 MB of header text: more than the disk
    failed = _ingest(config, tmp_path / "big")
    lines = [ln for ln in failed.stderr.splitlines() if ln.strip()]
    assert failed.returncode == 4, failed.stderr[-2000:]
    ours = [ln for ln in lines if ln.startswith("radlake: error: ")]
    assert len(ours) == 1 and lines[-1] == ours[0], failed.stderr[-2000:]
    assert "No space left on device" in ours[0] and "Traceback" not in failed.stderr
    # delta-rs (object_store 0.13) also panics in a worker thread after the failed write and Rust prints that
    # itself: two lines, not ours, not avoidable from Python. Nothing else may appear.
    others = [ln for ln in lines if ln not in ours]
    assert all(ln.startswith(("thread 'tokio-rt-worker'", "Already shut down", "note: run with")) for ln in others), (
        others
    )

    # No partial table: the versions and rows are the first run's.
    assert {name: lake.table_version(settings, uri) for name, uri in uris.items()} == before
    sops = lake.read_arrow(settings, uris["dicom_instances"], ["sop_instance_uid"]).column("sop_instance_uid")
    assert sorted(sops.to_pylist()) == sorted(first)
    files = lake.read_arrow(settings, uris["dicom_files"], ["file_path"]).column("file_path").to_pylist()
    assert len(files) == len(first) and all("/small/" in f for f in files)
