"""The landing index (issue 30): kept on disk, it equals bronze after a writer is killed mid-way, after the
Delta log was compacted and cleaned past what the index had read, and after a commit removed rows."""

from __future__ import annotations

import gc
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from dicom_corpus import FILES, INSTANCES, dataset_bytes, make_dataset

from ingestion.dicom.api import ingest_dicom
from ingestion.dicom.landing_index import LandingIndex, index_path
from radlake import catalog, lake
from radlake.config import Settings

UID = "1.2.826.0.1.3680043.8.498.30"
N = 240  # new instances; a copy of every tenth one is a duplicate, one changed copy a conflict


def _corpus(root: Path) -> None:
    for i in range(N):
        (root / f"s{i % 7}").mkdir(parents=True, exist_ok=True)
        data = dataset_bytes(make_dataset(f"{UID}.{i}", series=str(i % 7), PatientID=f"P{i % 11}"))
        (root / f"s{i % 7}" / f"{i}.dcm").write_bytes(data)
        if i % 10 == 0:
            (root / "copies").mkdir(exist_ok=True)
            (root / "copies" / f"{i}.dcm").write_bytes(data)
    changed = dataset_bytes(make_dataset(f"{UID}.3", series="3", PatientID="changed"))
    (root / "copies" / "conflict.dcm").write_bytes(changed)


def _bronze(settings: Settings) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(path, sha) of dicom_files, (uid, sha) of dicom_instances, and instance rows without a file row, read
    straight from the Delta snapshots (not through radlake)."""

    def read(spec: catalog.TableSpec, columns: list[str]) -> list[tuple]:
        dt = DeltaTable(catalog.table_uri(settings, spec))
        t = pq.read_table(dt.file_uris(), columns=columns)
        return list(zip(*(t.column(c).to_pylist() for c in columns), strict=True))

    files = read(FILES, ["file_path", "sha256"])
    inst = read(INSTANCES, ["sop_instance_uid", "file_sha256", "file_path"])
    paths = {p for p, _ in files}
    pending = sorted((p, u) for u, _, p in inst if p not in paths)
    return sorted(files), sorted((u, s) for u, s, _ in inst), pending


def _index(settings: Settings) -> tuple[list, list, list]:
    index = LandingIndex(settings)
    try:
        index.catch_up()
        return index.rows("paths"), index.rows("sops"), index.rows("pending")
    finally:
        index.close()


@pytest.mark.slow
def test_index_equals_bronze_after_kill_9_and_after_the_log_was_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "in"
    _corpus(root)
    settings = Settings(lake=str(tmp_path / "lake"))
    files_uri = catalog.table_uri(settings, FILES)
    code = (
        "from ingestion.dicom.api import ingest_dicom; from radlake.config import Settings; "
        f"ingest_dicom(Settings(lake={str(tmp_path / 'lake')!r}), [{str(root)!r}], workers=0, batch_files=8)"
    )
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and writer.poll() is None:
            version = lake.table_version(settings, files_uri) if Path(files_uri, "_delta_log").exists() else None
            if version is not None and version >= 6:  # several batches in: the index has caught up on some
                break
            time.sleep(0.05)
        assert writer.poll() is None, "the writer finished before it could be killed: make the corpus bigger"
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert index_path(settings).exists()
    files, sops, pending = _bronze(settings)
    assert 0 < len(files) < N + N // 10 + 1
    assert _index(settings) == (files, sops, pending)

    # Finish the ingest on the index the killed writer left: every file lands once, duplicates recognised.
    stale = tmp_path / "stale.sqlite"
    shutil.copy(index_path(settings), stale)
    report = ingest_dicom(settings, [root], workers=0, batch_files=50)
    files, sops, pending = _bronze(settings)
    assert len(files) == N + N // 10 + 1 and len({p for p, _ in files}) == len(files)
    assert len(sops) == N and not pending
    assert report.files_skipped + report.files_new == len(files)
    assert _index(settings) == (files, sops, pending)
    again = ingest_dicom(settings, [root], workers=0)
    assert again.files_new == 0 and not again.committed

    # Compact, checkpoint and clean the log past the stale copy's versions: it must rescan, not miss rows.
    for spec in (FILES, INSTANCES):
        uri = catalog.table_uri(settings, spec)
        lake.rewrite_small_files(settings, uri, [], target_size=1 << 26)
        lake.set_table_properties(settings, uri, {"delta.logRetentionDuration": "interval 0 seconds"})
        lake.checkpoint(settings, uri)
        lake.clean_log(settings, uri)
    assert not Path(files_uri, "_delta_log", f"{1:020d}.json").exists()
    # Close every index connection of the ingests above first (they close when collected): SQLite answers
    # "disk I/O error" to a new connection when a live one's -shm file was removed under it.
    gc.collect()
    for suffix in ("-wal", "-shm"):
        Path(f"{index_path(settings)}{suffix}").unlink(missing_ok=True)
    shutil.copy(stale, index_path(settings))
    assert _index(settings) == _bronze(settings)

    # A commit that removes rows (an erasure, a restore) cannot be replayed from its added files: rescan.
    gone = f"{root / 'copies' / '0.dcm'}"
    DeltaTable(files_uri).delete(f"file_path = '{gone}'")
    paths, _, _ = _index(settings)
    assert gone not in {p for p, _ in paths}
    assert _index(settings) == _bronze(settings)
