"""The distributed DICOM backfill (header parsing as Spark jobs on Sail in local-cluster mode) lands what the
process-pool folder ingest lands, row for row, and a re-run in either mode lands nothing twice."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from ingestion.dicom import landing
from ingestion.dicom.api import ingest_dicom
from ingestion.dicom.distributed import backfill_dicom
from radlake.config import Settings
from simulator.enhanced import enhanced_multiframe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dicom"))
from dicom_corpus import build_corpus, content, versions

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _check_truth(settings: Settings, corpus) -> None:
    """Each file's outcome and reason are the ones the corpus was built to produce (not another run's)."""
    files = {r["file_path"]: r for r in content(settings)[0]}
    assert set(files) == set(corpus.expect)
    for path, (outcome, code) in corpus.expect.items():
        row = files[path]
        assert row["outcome"] == outcome, (path, row["reason"])
        if code is not None:
            assert row["reason"].startswith(f"{code}: "), (path, row["reason"])


def test_backfill_on_a_sail_cluster_lands_what_the_process_pool_lands(sail_cluster: str, tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "in")
    # An enhanced MR: its per-frame values (bronze `frames`, structs) travel through the engine's Arrow batches.
    mr = enhanced_multiframe("1.2.826.0.1.3680043.10.543.31.1", 30, modality="MR", phases=3)
    corpus.add("enhanced_mr", "enhanced/mr.dcm", mr, "instance")
    pool = Settings(lake=str(tmp_path / "pool"))
    cluster = Settings(lake=str(tmp_path / "cluster"), spark=sail_cluster)

    by_pool = ingest_dicom(pool, [corpus.root], workers=2)
    # Small engine jobs, tasks and commit batches: several jobs, tasks spread over the workers, commit
    # batches that cut across jobs.
    by_engine = backfill_dicom(cluster, [corpus.root], chunk_files=10, task_files=3, batch_files=7)

    expected = {o: sum(1 for v in corpus.expect.values() if v[0] == o) for o in landing.OUTCOMES}
    assert by_pool.outcomes == by_engine.outcomes == expected
    assert by_engine.files_seen == len(corpus.expect) and by_engine.files_skipped == 0
    _check_truth(cluster, corpus)
    assert content(cluster) == content(pool)  # every column but the ingestion times

    # Exactly once: a re-run of the backfill, and the process pool after it, find nothing new.
    landed = versions(cluster)
    again = backfill_dicom(cluster, [corpus.root], chunk_files=10, task_files=3)
    assert again.files_new == 0 and again.files_skipped == len(corpus.expect)
    assert ingest_dicom(cluster, [corpus.root], workers=0).files_new == 0
    assert versions(cluster) == landed

    # New files only: a late instance and a byte-identical copy of a landed one.
    late = corpus.root / "late" / "IM0001"
    late.parent.mkdir()
    shutil.copyfile(corpus.names["plain_1_1"], late)
    os.utime(late, ns=(os.stat(corpus.names["plain_1_1"]).st_mtime_ns,) * 2)
    n = len(corpus.expect)
    args = ["ingest", "dicom", str(corpus.root), "--lake", cluster.lake, "--quiet", "--no-rollups"]
    result = CliRunner().invoke(app, [*args, "--engine", "spark", "--spark", sail_cluster])
    assert result.exit_code == 0, result.output
    assert f"files: {n + 1} seen, {n} already landed, 1 new (0 instance, 1 duplicate, 0 conflict" in result.output
    assert ingest_dicom(pool, [corpus.root], workers=0).outcomes["duplicate"] == 1
    assert content(cluster) == content(pool)
