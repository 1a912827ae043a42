"""A sync drains: everything committed before it started, batch after batch, each once; or stops at its time bound."""

from __future__ import annotations

import re

import pytest
from cdc_helpers import WalTruth, assert_each_change_logged_once
from typer.testing import CliRunner

from cli.commands.cdc import app
from ingestion.cdc.status import lagging_sources, last_sync
from ingestion.cdc.sync import sync_source

pytestmark = pytest.mark.integration

DDL = "CREATE TABLE ris.t (id bigint PRIMARY KEY, v text, n integer)"


def _insert(conn, first: int, last: int) -> None:
    sql = "INSERT INTO ris.t SELECT g, '值' || g, g FROM generate_series(%s::bigint, %s::bigint) g"
    conn.execute(sql, (first, last))


def _assert_silver_equals_source(spark, settings, conn) -> int:
    expected = set(conn.execute("SELECT id, v, n FROM ris.t").fetchall())
    silver = spark.read.format("delta").load(f"{settings.lake}/silver/src__t").toArrow()
    got = set(zip(*(silver.column(c).to_pylist() for c in ("id", "v", "n")), strict=True))
    assert len(got) == silver.num_rows, "silver holds a key twice"
    assert got == expected, f"{len(expected - got)} source rows missing or different, {len(got - expected)} extra"
    return len(expected)


@pytest.mark.slow
def test_one_sync_lands_300k_waiting_changes_in_batches_each_once(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(DDL)
    _insert(conn, 1, 50_000)
    config = source_db.write_config(tmp_path, tmp_path / "lake")
    settings = source_db.settings(tmp_path / "lake")
    runner = CliRunner()
    first = runner.invoke(app, ["sync", "src", "-c", str(config), "-q"])
    assert first.exit_code == 0, first.output
    truth = WalTruth(conn)

    # 300,000 changes in 19 transactions: inserts, updates, key changes and deletes.
    for start in range(50_001, 200_001, 15_000):
        _insert(conn, start, start + 14_999)  # 150,000 inserts
    for start in range(5_001, 105_001, 20_000):
        conn.execute("UPDATE ris.t SET v = v || '改', n = -n WHERE id BETWEEN %s AND %s", (start, start + 19_999))
    conn.execute("UPDATE ris.t SET id = id + 1000000 WHERE id <= 5000")  # 5,000 key changes
    for start in range(110_001, 155_001, 15_000):
        conn.execute("DELETE FROM ris.t WHERE id BETWEEN %s AND %s", (start, start + 14_999))  # 45,000 deletes

    result = runner.invoke(app, ["sync", "src", "-c", str(config), "-q"])
    assert result.exit_code == 0, result.output
    batches = int(re.search(r"(\d+) batches", result.output)[1])
    assert batches >= 300_000 // settings.cdc.batch_messages, result.output
    assert "t 300000 (delete 45000 insert 150000 update 105000)" in result.output, result.output
    assert _assert_silver_equals_source(spark, settings, conn) == 155_000
    assert assert_each_change_logged_once(settings, truth, conn, table="t", key="id") == 300_000
    record = last_sync(settings, "src")
    assert record is not None and record["ok"] and record["caught_up"] and record["batches"] == batches


def test_a_sync_stops_at_its_time_bound_naming_the_lag_and_the_next_one_catches_up(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(DDL)
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")
    truth = WalTruth(conn)
    for start in range(1, 3_001, 500):  # 3,000 changes in 6 transactions
        _insert(conn, start, start + 499)

    bounded = sync_source(settings, "src", max_messages=1_000, max_seconds=1e-9)
    assert not bounded.caught_up and bounded.batches == 1
    assert bounded.warning and "cdc.max_sync_seconds" in bounded.warning and "bytes of WAL" in bounded.warning
    assert 0 < bounded.changes < 3_000 and bounded.lag_bytes
    record = last_sync(settings, "src")
    assert record is not None and record["ok"] and not record["caught_up"] and record["warning"] == bounded.warning
    assert lagging_sources(settings) == {"src": bounded.warning}

    rest = sync_source(settings, "src", max_messages=1_000)
    assert rest.caught_up and rest.batches >= 2 and rest.warning is None
    assert bounded.changes + rest.changes == 3_000
    assert _assert_silver_equals_source(spark, settings, conn) == 3_000
    assert assert_each_change_logged_once(settings, truth, conn, table="t", key="id") == 3_000
    assert last_sync(settings, "src")["caught_up"] and lagging_sources(settings) == {}

    # The command shows its progress, batch by batch, as plain lines when not on a terminal.
    _insert(conn, 3_001, 3_500)
    config = source_db.write_config(tmp_path, tmp_path / "lake")
    shown = CliRunner().invoke(app, ["sync", "src", "-c", str(config)], env={"RADLAKE_PROGRESS": "plain"})
    assert shown.exit_code == 0, shown.output
    assert re.search(r"radlake cdc sync: capture src .*: batch 1: 500 changes so far, lag", shown.output), shown.output
