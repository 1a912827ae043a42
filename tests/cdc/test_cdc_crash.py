"""kill -9 at any moment, then a re-run: silver equals the source row for row, and the log holds every change once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import psycopg
import pytest
from cdc_helpers import ORDERS_DDL, WalTruth, Workload, assert_each_change_logged_once, assert_orders_match

from ingestion.cdc.state import CRASH_ENV, parse_lsn, table_position
from ingestion.cdc.sync import sync_source
from radlake.lake import read_arrow, table_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _radlake(config, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``radlake cdc ...`` in a child process."""
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "cdc", *args, "-c", str(config), "-q"],
        env={**os.environ, "RUST_LOG": "error", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _change_ops(settings) -> Counter:
    log = read_arrow(settings, f"{settings.lake}/bronze/src__orders")
    assert log is not None
    ops = Counter(log.column("_op").to_pylist())
    ops.pop("snapshot", None)
    return ops


def test_kill_at_each_commit_boundary_then_rerun(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    conn.execute("CREATE TABLE ris.depts (id int PRIMARY KEY, name text)")
    conn.execute("INSERT INTO ris.depts VALUES (1, '放射科'), (2, '超声科')")
    work = Workload(seed=11)
    work.seed_rows(conn, 40)
    lake = tmp_path / "lake"
    config = source_db.write_config(tmp_path, lake)
    settings = source_db.settings(lake)

    # Killed inside the first snapshot, after the first table's log commit: its silver and the other table missing.
    child = _radlake(config, "sync", "src", env={CRASH_ENV: "after_snapshot_log"})
    assert child.wait(120) == -signal.SIGKILL
    report = sync_source(settings, "src")
    assert report.recovered_tables == ["depts"] and report.snapshot_tables == ["orders"]
    assert_orders_match(spark, settings, conn)
    depts = spark.read.format("delta").load(f"{lake}/silver/src__depts").toArrow().to_pylist()
    assert sorted((r["id"], r["name"]) for r in depts) == [(1, "放射科"), (2, "超声科")]

    # Killed after the change log commit (silver behind), then after silver's (slot not advanced).
    truth = WalTruth(conn)
    for point in ("after_log", "after_state"):
        work.run(conn, 60)
        child = _radlake(config, "sync", "src", env={CRASH_ENV: point})
        assert child.wait(120) == -signal.SIGKILL, child.stderr.read().decode() if child.stderr else ""
        report = sync_source(settings, "src")
        assert report.recovered_tables == (["orders"] if point == "after_log" else [])
        assert_orders_match(spark, settings, conn)
        assert _change_ops(settings) == work.ops
        assert assert_each_change_logged_once(settings, truth, conn) == sum(work.ops.values())


def test_stream_killed_at_random_moments_loses_and_duplicates_nothing(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    work = Workload(seed=12345)
    work.seed_rows(conn, 50)
    lake = tmp_path / "lake"
    config = source_db.write_config(tmp_path, lake)
    settings = source_db.settings(lake)
    sync_source(settings, "src")
    truth = WalTruth(conn)

    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(source_db.uri, autocommit=True) as writer:
            while not stop.is_set():
                work.run(writer, 5)
                time.sleep(0.02)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    rng = random.Random(2024)
    versions = [table_version(settings, f"{lake}/silver/src__orders")]
    try:
        for _ in range(4):
            child = _radlake(config, "stream", "src", "--poll", "0.05")
            # Wait until this stream lands a batch, then kill it at a random moment of the following ones.
            deadline = time.monotonic() + 90
            while table_version(settings, f"{lake}/silver/src__orders") == versions[-1]:
                assert time.monotonic() < deadline and child.poll() is None, "the stream landed nothing"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 2.0))
            child.send_signal(signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
            versions.append(table_version(settings, f"{lake}/silver/src__orders"))
    finally:
        stop.set()
        writer.join(30)
    sync_source(settings, "src")
    assert sum(work.ops.values()) > 200
    assert_orders_match(spark, settings, conn)
    assert _change_ops(settings) == work.ops
    assert assert_each_change_logged_once(settings, truth, conn) == sum(work.ops.values())


def test_sigterm_finishes_the_current_batch_and_exits_cleanly(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    work = Workload(seed=5)
    work.seed_rows(conn, 30)
    lake = tmp_path / "lake"
    config = source_db.write_config(tmp_path, lake)
    settings = source_db.settings(lake)
    child = _radlake(config, "stream", "src", "--poll", "0.05")
    try:
        deadline = time.monotonic() + 60
        while table_position(settings, "src", "orders").state is None:
            assert time.monotonic() < deadline and child.poll() is None, "the stream never landed its snapshot"
            time.sleep(0.2)
        truth = WalTruth(conn)
        work.run(conn, 40)
        # Signal while changes are still arriving, so a batch is likely in flight when SIGTERM lands (where it
        # lands does not change what is asserted below).
        time.sleep(0.3)
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 0
    finally:
        if child.poll() is None:
            child.kill()
    assert b"stopped after a complete batch" in (child.stderr.read() if child.stderr else b"")
    # The batch under way finished whole: change log and silver at the same batch, the slot not behind them.
    position = table_position(settings, "src", "orders")
    assert position.log is not None and position.state == position.log
    slot = conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'radlake_src'")
    assert parse_lsn(slot.fetchone()[0]) >= position.log
    # Changes committed after its last batch wait in the slot: a final sync lands them with nothing to repair.
    final = sync_source(settings, "src")
    assert final.recovered_tables == []
    assert_orders_match(spark, settings, conn)
    assert assert_each_change_logged_once(settings, truth, conn) == sum(work.ops.values())
