"""Any legal PostgreSQL name syncs end to end; a batch silver cannot take stops before its change log grows."""

from __future__ import annotations

import os
import re
import threading
import time

import psycopg
import pytest
from cdc_helpers import source_rows
from deltalake import DeltaTable
from typer.testing import CliRunner

from cli.commands.cdc import app
from ingestion.cdc.source_tables import quote_ident
from ingestion.cdc.status import last_sync, source_status
from ingestion.cdc.sync import stream_source, sync_source
from radlake import catalog
from radlake.errors import DataError
from radlake.lake import table_version

pytestmark = pytest.mark.integration

# Spaces, both quote characters, a backtick, a slash and dots (path separators), Chinese, a reserved word.
TABLE = 'Exam "Orders" `x`/../检查 select'
KEY = "Order ID"
COLUMNS = {
    KEY: "bigint PRIMARY KEY",
    "select": "text",
    "MixedCase": "integer",
    "a`b": "text",
    'q"uote': "text",
    "中文 列": "text",
    "dot.ted": "numeric(8, 2)",
    "分 数": "double precision",
    "Updated At": "timestamptz NOT NULL DEFAULT clock_timestamp()",
}


def _create(conn: psycopg.Connection, name: str) -> str:
    qualified = f"ris.{quote_ident(name)}"
    cols = ", ".join(f"{quote_ident(c)} {t}" for c, t in COLUMNS.items())
    conn.execute(f"CREATE TABLE {qualified} ({cols})")
    return qualified


def _insert(conn: psycopg.Connection, qualified: str, ids: range) -> None:
    names = [c for c in COLUMNS if c != "Updated At"]
    values = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {qualified} ({', '.join(quote_ident(c) for c in names)}) VALUES ({values})"
    for i in ids:
        conn.execute(sql, (i, f"选{i}", i * 3, f"`{i}`", f'"{i}"', f"列 {i}", f"{i}.25", i / 3))


def _change(conn: psycopg.Connection, qualified: str) -> None:
    """Updates, deletes and a key change, each naming the odd columns in SQL."""
    conn.execute(f'UPDATE {qualified} SET "select" = \'改\', "a`b" = NULL, "MixedCase" = -1 WHERE "Order ID" <= 3')
    conn.execute(f'DELETE FROM {qualified} WHERE "Order ID" IN (4, 5)')
    conn.execute(f'UPDATE {qualified} SET "Order ID" = 100, "q""uote" = \'moved\' WHERE "Order ID" = 6')


def _assert_silver_equals_source(spark, settings, conn: psycopg.Connection, name: str) -> int:
    uri = catalog.uri(settings, "silver", catalog.cdc_table_name("src", name))
    expected = source_rows(conn, quote_ident(name), KEY)
    got = {r[KEY]: r for r in spark.read.format("delta").load(uri).toArrow().to_pylist()}
    assert set(got) == set(expected)
    for key, row in expected.items():
        for column, value in row.items():
            mine = got[key][column]
            if column == "Updated At":
                value, mine = value[1], mine.astimezone(value[1].tzinfo)  # source_rows tags instants
            elif column == "dot.ted":
                value, mine = value[1], str(mine)
            assert mine == value, f"{name!r} {key} {column!r}: {mine!r} != {value!r}"
    return len(expected)


def test_any_legal_identifier_syncs_end_to_end(source_db, tmp_path, spark):
    conn = source_db.conn
    weird = _create(conn, TABLE)
    upper, lower = _create(conn, "Mixed"), _create(conn, "mixed")  # two tables whose names differ in case
    for qualified in (weird, upper, lower):
        _insert(conn, qualified, range(1, 11))
    conn.execute(f'DELETE FROM {lower} WHERE "Order ID" > 5')  # so that the two cannot pass for each other
    settings = source_db.settings(tmp_path / "lake")

    first = sync_source(settings, "src")
    assert sorted(first.snapshot_tables) == sorted([TABLE, "Mixed", "mixed"])
    for qualified in (weird, upper, lower):
        _change(conn, qualified)
    changed = sync_source(settings, "src")
    assert changed.tables[TABLE].ops == {"update": 4, "delete": 2}

    # Streamed too: changes landed by stream_source while it runs.
    _insert(conn, weird, range(200, 205))
    stop, reports = threading.Event(), []
    stream = threading.Thread(
        target=stream_source, args=(settings, "src", stop), kwargs={"poll_interval": 0.05, "on_batch": reports.append}
    )
    stream.start()
    try:
        deadline = time.monotonic() + 120
        while sum(r.tables.get(TABLE).rows for r in reports if TABLE in r.tables) < 5:
            assert time.monotonic() < deadline and stream.is_alive(), "the stream did not land the inserts"
            time.sleep(0.05)
    finally:
        stop.set()
        stream.join(60)
    for name in (TABLE, "Mixed", "mixed"):
        assert _assert_silver_equals_source(spark, settings, conn, name) > 0

    # Lake folders: only [a-z0-9_], one per table, and each maps back to its source name.
    for layer in ("bronze", "silver"):
        folders = sorted(os.listdir(tmp_path / "lake" / layer))
        assert len(folders) == 3 and all(re.fullmatch(r"[a-z0-9_]+", f) for f in folders), folders
        assert sorted(catalog.cdc_source_table("src", f) for f in folders) == sorted([TABLE, "Mixed", "mixed"])
        # File statistics on every column but the float one (Sail misreads one-row float statistics).
        uri = catalog.uri(settings, layer, catalog.cdc_table_name("src", TABLE))  # type: ignore[arg-type]
        stats = DeltaTable(uri).metadata().configuration["delta.dataSkippingStatsColumns"]
        assert "`分 数`" not in stats and "`a``b`" in stats and "`dot.ted`" in stats
    # Query mode reads and compares the same names.
    query = source_db.settings(tmp_path / "lake_query", mode="query", watermark_column="Updated At")
    sync_source(query, "src")
    conn.execute(f'UPDATE {weird} SET "中文 列" = \'再改\', "Updated At" = clock_timestamp() WHERE "Order ID" <= 3')
    conn.execute(f'DELETE FROM {weird} WHERE "Order ID" = 7')
    again = sync_source(query, "src")
    assert again.tables[TABLE].ops == {"update": 3, "delete": 1}
    assert _assert_silver_equals_source(spark, query, conn, TABLE) > 0


def test_a_batch_silver_cannot_take_stops_before_its_log_grows_and_alerts(source_db, tmp_path):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.visits (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO ris.visits VALUES (1, 'a')")
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")
    log_uri = f"{settings.lake}/bronze/src__visits"
    before = table_version(settings, log_uri)
    slot_before = conn.execute("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'radlake_src'")
    slot_before = slot_before.fetchone()[0]

    # A column whose name differs from another only in case: Spark and Delta cannot hold both.
    conn.execute('ALTER TABLE ris.visits ADD COLUMN "V" text')
    conn.execute("INSERT INTO ris.visits VALUES (2, 'b', 'B')")
    with pytest.raises(DataError, match=r"table 'visits': columns 'v' and 'V' differ only in case"):
        sync_source(settings, "src")
    assert table_version(settings, log_uri) == before  # nothing appended
    slot_after = conn.execute("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'radlake_src'")
    assert slot_after.fetchone()[0] == slot_before  # the slot keeps the changes

    record = last_sync(settings, "src")
    assert record is not None and not record["ok"] and "'visits'" in record["error"]
    status = next(s for s in source_status(settings) if s.source == "src")
    assert status.problem and "last sync failed" in status.problem and "differ only in case" in status.problem
    assert status.wal_retained_bytes and status.wal_retained_bytes > 0

    # Retained WAL above cdc.max_retained_wal_bytes is a problem of its own; the CLI shows it and fails.
    tight = source_db.write_config(tmp_path, tmp_path / "lake")
    text = tight.read_text() + "cdc:\n  max_retained_wal_bytes: 1\n"
    tight.write_text(text)
    result = CliRunner().invoke(app, ["status", "-c", str(tight)])
    assert result.exit_code != 0
    assert "above cdc.max_retained_wal_bytes" in result.output and "max_slot_wal_keep_size" in result.output


def test_lake_names_are_safe_distinct_and_reversible():
    names = [
        "exam_orders", "Exam_Orders", "exam orders", "exam__orders", "_exam", "exam_", "../../etc", "a/b", "a\\b",
        "..", ".", "检查", "检查 记录", 'q"uote', "back`tick", "select", "SELECT", "a" * 63, "x\ny", "exam-orders",
    ]  # fmt: skip
    lake_names = [catalog.cdc_table_name("ris", n) for n in names]
    assert len(set(lake_names)) == len(names)  # collision-free, also ignoring case:
    assert len({n.lower() for n in lake_names}) == len(names)
    for name, lake_name in zip(names, lake_names, strict=True):
        assert re.fullmatch(r"ris__[a-z0-9_]+", lake_name) and len(lake_name) < 200, lake_name
        assert catalog.cdc_source_table("ris", lake_name) == name
        assert catalog.cdc_table_name("ris", name) == lake_name  # deterministic
    assert lake_names[0] == "ris__exam_orders"  # plain names unchanged: existing lakes keep their folders
    assert catalog.cdc_source_table("ris", "ris2__exam_orders") is None
    assert catalog.cdc_source_table("ris", "ris__x__notbase32!") is None


def test_a_source_name_with_a_double_underscore_is_refused():
    from radlake.config import Settings

    with pytest.raises(ValueError, match="must not contain '__'"):
        Settings(sources={"ris__h01": {"dsn": "postgresql://db/ris"}})
