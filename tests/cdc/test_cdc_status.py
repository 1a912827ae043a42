"""source_status and the ``radlake cdc`` commands: position, lag, last batch, orphan slots; stream mode."""

from __future__ import annotations

import threading
import time

import pytest
from cdc_helpers import ORDERS_DDL, Workload, assert_orders_match
from typer.testing import CliRunner

from cli.commands.cdc import app
from ingestion.cdc.status import source_status
from ingestion.cdc.sync import stream_source, sync_source

pytestmark = pytest.mark.integration


def test_status_reports_position_lag_and_an_orphan_slot(source_db, tmp_path):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.t (id int PRIMARY KEY, v text)")
    settings = source_db.settings(tmp_path / "lake")
    before = source_status(settings)
    assert before[0].problem and "sync" in before[0].problem

    sync_source(settings, "src")
    conn.execute("INSERT INTO ris.t SELECT g, 'x' FROM generate_series(1, 100) g")
    # A slot of a source that is no longer in the config keeps WAL: it must show up.
    conn.execute("SELECT pg_create_logical_replication_slot('radlake_removed_source', 'pgoutput')")
    status = {s.source: s for s in source_status(settings)}
    src = status["src"]
    assert src.kind == "source" and src.mode == "logical" and src.tables == 1
    assert src.lag_bytes and src.lag_bytes > 0  # the insert is not landed yet
    assert src.lag_seconds is not None and src.lag_seconds >= 0
    assert src.pending is True  # a committed transaction waits: the CDC sensor starts a run
    assert src.since_last_batch_s is not None and src.since_last_batch_s < 600
    orphan = status["removed_source"]
    assert orphan.kind == "orphan_slot"
    assert "pg_drop_replication_slot('radlake_removed_source')" in (orphan.problem or "")

    sync_source(settings, "src")
    caught_up = {s.source: s for s in source_status(settings)}["src"]
    assert caught_up.lag_seconds == 0.0 and caught_up.position != src.position
    # WAL written since (other tables, other databases) moves the byte lag but is no change to land: the sensor
    # must not start an empty run after each real sync (issue 33).
    conn.execute("CREATE TABLE public.not_captured (id int)")
    conn.execute("INSERT INTO public.not_captured SELECT generate_series(1, 50)")
    idle = {s.source: s for s in source_status(settings)}["src"]
    assert idle.lag_bytes and idle.lag_bytes > 0 and idle.pending is False

    config = source_db.write_config(tmp_path, tmp_path / "lake")
    result = CliRunner().invoke(app, ["status", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "removed_source: orphan replication slot radlake_removed_source" in result.output
    assert "SELECT pg_drop_replication_slot('radlake_removed_source')" in result.output


def test_cli_sync_prints_what_landed_and_refuses_clearly(source_db, tmp_path):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.t (id int PRIMARY KEY, v text)")
    conn.execute("CREATE TABLE ris.heap (v text)")
    conn.execute("INSERT INTO ris.t VALUES (1, '甲')")
    config = source_db.write_config(tmp_path, tmp_path / "lake")
    runner = CliRunner()
    first = runner.invoke(app, ["sync", "src", "-c", str(config), "-q"])
    assert first.exit_code == 0, first.output
    assert "src: snapshot" in first.output and "t 1 (snapshot 1)" in first.output
    assert "not capturing heap" in first.output and "REPLICA IDENTITY FULL" in first.output
    conn.execute("UPDATE ris.t SET v = '乙'")
    second = runner.invoke(app, ["sync", "src", "-c", str(config), "-q"])
    assert "src: changes; t 1 (update 1)" in second.output

    listed = source_db.write_config(tmp_path, tmp_path / "lake2", tables=["heap"])
    refused = runner.invoke(app, ["sync", "src", "-c", str(listed)])
    assert refused.exit_code != 0 and "ris.heap has no primary key" in str(refused.exception)


def test_stream_lands_changes_and_stops_on_request(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    work = Workload(seed=77)
    work.seed_rows(conn, 40)
    settings = source_db.settings(tmp_path / "lake")
    stop = threading.Event()
    reports = []
    thread = threading.Thread(
        target=stream_source, args=(settings, "src", stop), kwargs={"poll_interval": 0.05, "on_batch": reports.append}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not any(r.kind == "snapshot" for r in reports):
            assert time.monotonic() < deadline and thread.is_alive(), "the stream did not land its snapshot"
            time.sleep(0.05)
        for round_no in range(3):
            if round_no == 1:  # a column added while the stream runs
                conn.execute("ALTER TABLE ris.orders ADD COLUMN room text")
                conn.execute("UPDATE ris.orders SET room = '三楼CT室' WHERE order_id = 1")
                work.ops["update"] += 1
            work.run(conn, 60)
            # Poll for the outcome (no fixed wait): how fast it comes is bench/cdc.py's business.
            deadline = time.monotonic() + 120
            while sum(r.changes for r in reports) < sum(work.ops.values()):
                assert time.monotonic() < deadline and thread.is_alive(), "the stream did not land the changes"
                time.sleep(0.05)
        assert_orders_match(spark, settings, conn)
        silver = spark.read.format("delta").load(f"{settings.lake}/silver/src__orders").toArrow()
        rooms = dict(zip(silver.column("order_id").to_pylist(), silver.column("room").to_pylist(), strict=True))
        assert rooms == dict(conn.execute("SELECT order_id, room FROM ris.orders").fetchall())
        assert (
            "三楼CT室" in rooms.values()
            or conn.execute("SELECT 1 FROM ris.orders WHERE order_id = 1").fetchone() is None
        )
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert sum(r.changes for r in reports) == sum(work.ops.values())  # every change once, none twice
    latencies = [s for r in reports for s, _ in r.latencies]
    assert latencies and min(latencies) >= 0  # measured per transaction (figures: bench/cdc.py)
