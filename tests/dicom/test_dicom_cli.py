"""``radlake ingest dicom`` on the command line: report, one-line errors, and kill -9 in the middle of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dicom_corpus import FILES, content, dataset_bytes, make_dataset, rows
from typer.testing import CliRunner

from cli.main import app
from ingestion.dicom.api import ingest_dicom
from radlake.config import Settings

CLI = [sys.executable, "-c", "from cli.main import main; main()"]
ROOT = Path(__file__).resolve().parents[2]


def test_cli_prints_the_report_and_fails_in_one_line(corpus, tmp_path: Path) -> None:
    runner = CliRunner()
    lake = tmp_path / "lake"
    result = runner.invoke(app, ["ingest", "dicom", str(corpus.root), "--lake", str(lake), "--quiet", "--no-rollups"])
    assert result.exit_code == 0, result.output
    n = len(corpus.expect)
    assert f"files: {n} seen, 0 already landed, {n} new" in result.output
    result = runner.invoke(app, ["ingest", "dicom", str(corpus.root), "--lake", str(lake), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"{n} already landed, 0 new" in result.output and "tables: unchanged" in result.output
    # The first run left the roll-ups unbuilt (as a crash after landing would): this run catches up ...
    assert "silver: silver/dicom_series" in result.output
    # ... and the next one has nothing to do.
    result = runner.invoke(app, ["ingest", "dicom", str(corpus.root), "--lake", str(lake), "--quiet"])
    assert result.exit_code == 0 and "silver:" not in result.output, result.output
    bad = subprocess.run(
        [*CLI, "ingest", "dicom", str(tmp_path / "missing"), "--lake", str(lake)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines() == [f"radlake: error: {tmp_path / 'missing'}: no such file or folder"]


def _big_corpus(root: Path, n: int) -> None:
    """``n`` instances in series of 100; UIDs of equal length, patched into one encoded template."""
    template_uid = "1.2.826.0.1.3680043.10.543.88.100000"
    template = dataset_bytes(make_dataset(template_uid, study="8"))
    for i in range(n):
        uid = f"1.2.826.0.1.3680043.10.543.88.{100000 + i}"
        folder = root / f"ST{i // 1000:03d}" / f"SE{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IM{i:06d}").write_bytes(template.replace(template_uid.encode(), uid.encode()))


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    corpus = tmp_path / "in"
    _big_corpus(corpus, 3000)
    clean = Settings(lake=str(tmp_path / "clean"))
    ingest_dicom(clean, [corpus], workers=0)

    lake = tmp_path / "killed"
    first_commit = lake / "bronze" / "dicom_instances" / "_delta_log" / "00000000000000000000.json"
    proc = subprocess.Popen(
        [
            *CLI,
            "ingest",
            "dicom",
            str(corpus),
            "--lake",
            str(lake),
            "--workers",
            "2",
            "--batch-files",
            "200",
            "--no-rollups",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )
    deadline = time.monotonic() + 120
    while not first_commit.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no commit within 120 s"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = Settings(lake=str(lake))
    landed = rows(killed, FILES) if (lake / "bronze" / "dicom_files" / "_delta_log").exists() else []
    assert len(landed) < 3000, "the run finished before the kill: the test proves nothing"

    report = ingest_dicom(killed, [corpus], workers=0)
    assert report.files_skipped == len(landed)
    assert content(killed) == content(clean)
    # And once more: nothing left to do.
    assert not ingest_dicom(killed, [corpus], workers=0).committed
