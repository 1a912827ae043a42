"""``radlake simulate`` through the CLI: the summary, --live, a bad value in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from cli.main import app
from radlake.errors import ConfigError

pytestmark = pytest.mark.integration


def test_simulate_then_live_prints_summaries_and_stops_the_server(workdir):
    out = workdir / "cli"
    args = ["simulate", "--out", str(out), "--institutions", "1", "--days", "1", "--exams-per-day", "15"]
    result = CliRunner().invoke(app, [*args, "--live", "--rate", "20", "--duration", "1"])
    assert result.exit_code == 0, result.output
    assert "ris.exam_orders:" in result.output
    assert "live:" in result.output and "changes in" in result.output
    assert (out / "truth" / "exams.csv").exists()
    assert not (out / "postgres" / "postmaster.pid").exists()


def test_a_bad_start_date_is_one_clear_error(workdir):
    result = CliRunner().invoke(app, ["simulate", "--out", str(workdir / "x"), "--start-date", "2026-13-01"])
    assert isinstance(result.exception, ConfigError)
    assert "--start-date" in str(result.exception)
    assert not (workdir / "x").exists()


@pytest.mark.slow
def test_sigterm_ends_live_mode_cleanly(workdir):
    out = workdir / "term"
    cmd = [
        sys.executable, "-c", "from cli.main import main; main()", "simulate", "--out", str(out),
        "--institutions", "1", "--days", "1", "--exams-per-day", "15", "--live", "--rate", "20",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("live: changing") or not line:
                break
        assert any(x.startswith("live: changing") for x in lines), lines
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "changes in" in rest
    assert not (out / "postgres" / "postmaster.pid").exists()


def test_simulate_registry_streams_parts_without_collisions(tmp_path):
    """--registry writes only registry.parquet; parts drawn separately share no record_id, MRN or person."""
    import pandas as pd

    from simulator.people import write_registry

    args = ["simulate", "--out", str(tmp_path), "--registry", "3000", "--hard", "--institutions", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["registry.parquet"]
    assert 2500 < len(pd.read_parquet(tmp_path / "registry.parquet")) < 3500

    parts: list[int] = []
    written = write_registry(tmp_path / "parts.parquet", 6000, ["h01", "h02", "h03"], 3, part_persons=700,
                             on_part=parts.append)  # fmt: skip
    frame = pd.read_parquet(tmp_path / "parts.parquet")
    assert len(parts) >= 4 and parts[-1] == written == len(frame)
    assert frame["record_id"].is_unique
    assert not frame.duplicated(["source_system", "mrn"]).any()
    # Persons are numbered apart per part: no person gathers the registrations of several parts.
    assert frame.groupby("person_id")["record_id"].count().max() <= 4
    assert frame["person_id"].nunique() == pytest.approx(6000 / 1.49, rel=0.25)


def test_simulate_hard_needs_registry(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--hard"])
    assert isinstance(result.exception, ConfigError)
    assert "--hard needs --registry" in str(result.exception)
