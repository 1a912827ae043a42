"""sync_source against a real PostgreSQL: snapshot, random workloads, schema changes, dropped and refused tables."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from cdc_helpers import (
    ORDERS_DDL,
    WalTruth,
    Workload,
    assert_each_change_logged_once,
    assert_orders_match,
    insert_order,
    random_values,
)
from deltalake import DeltaTable

from ingestion.cdc.sync import sync_source
from radlake.errors import DataError
from radlake.lake import read_arrow

pytestmark = pytest.mark.integration


def _log(settings, table: str = "orders") -> pa.Table:
    log = read_arrow(settings, f"{settings.lake}/bronze/src__{table}")
    assert log is not None
    return log


def test_snapshot_then_random_workloads_match_the_source_row_by_row(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    work = Workload(seed=20240501)
    work.seed_rows(conn, 150)
    settings = source_db.settings(tmp_path / "lake")

    first = sync_source(settings, "src")
    assert first.kind == "snapshot" and first.tables["orders"].ops == {"snapshot": 150}
    assert_orders_match(spark, settings, conn)
    truth = WalTruth(conn)

    for round_no in range(4):
        work.run(conn, 120)
        report = sync_source(settings, "src")
        assert report.kind == "changes", round_no
        assert_orders_match(spark, settings, conn)

    # Exactly once: each committed change is one log row (its commit LSN, op, key, old key), plus the snapshot.
    assert assert_each_change_logged_once(settings, truth, conn) == sum(work.ops.values())
    log = _log(settings)
    ops = Counter(log.column("_op").to_pylist())
    assert ops.pop("snapshot") == 150
    assert ops == work.ops
    keys = list(zip(log.column("_batch_id").to_pylist(), log.column("_seq").to_pylist(), strict=True))
    assert len(set(keys)) == len(keys)
    # Key changes are recorded with the old key; the workload made some.
    assert log.column("_old_order_id").null_count < log.num_rows

    # Faithful types in both layers.
    for layer in ("bronze", "silver"):
        schema = pa.schema(DeltaTable(f"{settings.lake}/{layer}/src__orders").schema().to_arrow())
        assert schema.field("dept").type == pa.int16()
        assert schema.field("qty").type == pa.int32()
        assert schema.field("order_id").type == pa.int64()
        assert schema.field("fee").type == pa.decimal128(10, 2)
        assert schema.field("ratio").type in (pa.string(), pa.large_string(), pa.string_view())
        assert schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")
        assert schema.field("local_at").type == pa.timestamp("us")
        assert schema.field("exam_date").type == pa.date32()
        assert schema.field("contrast").type == pa.bool_()

    # Nothing new: an idle batch lands nothing and the log does not grow.
    idle = sync_source(settings, "src")
    assert idle.kind == "idle" and idle.changes == 0
    assert _log(settings).num_rows == log.num_rows


def test_added_column_reaches_bronze_and_silver_without_restart(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    work = Workload(seed=7)
    work.seed_rows(conn, 20)
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")

    conn.execute("ALTER TABLE ris.orders ADD COLUMN priority text, ADD COLUMN urgency numeric(4, 1)")
    insert_order(conn, 1000, {**random_values(work.rng), "priority": "急诊", "urgency": "2.5"})
    conn.execute("UPDATE ris.orders SET priority = '常规' WHERE order_id = 3")
    conn.execute("UPDATE ris.orders SET qty = 5 WHERE order_id = 4")
    report = sync_source(settings, "src")
    assert report.tables["orders"].ops == {"insert": 1, "update": 2}

    rows = {
        r["order_id"]: r
        for r in spark.read.format("delta").load(f"{settings.lake}/silver/src__orders").toArrow().to_pylist()
    }
    assert rows[1000]["priority"] == "急诊" and str(rows[1000]["urgency"]) == "2.5"
    assert rows[3]["priority"] == "常规" and rows[4]["priority"] is None and rows[4]["qty"] == 5
    assert_orders_match(spark, settings, conn)
    schema = pa.schema(DeltaTable(f"{settings.lake}/bronze/src__orders").schema().to_arrow())
    assert schema.field("urgency").type == pa.decimal128(4, 1)


def test_dropped_table_is_reported_and_the_others_keep_flowing(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.keep (id int PRIMARY KEY, v text)")
    conn.execute("CREATE TABLE ris.gone (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO ris.keep VALUES (1, 'a'); INSERT INTO ris.gone VALUES (1, 'x')")
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")

    conn.execute("INSERT INTO ris.gone VALUES (2, 'y')")  # lands: it happened before the drop
    conn.execute("DROP TABLE ris.gone")
    conn.execute("INSERT INTO ris.keep VALUES (2, 'b')")
    report = sync_source(settings, "src")
    assert report.dropped_tables == ["gone"]
    assert report.tables["keep"].ops == {"insert": 1}
    assert report.tables["gone"].ops == {"insert": 1}
    silver = spark.read.format("delta").load(f"{settings.lake}/silver/src__gone").toArrow()
    assert sorted(silver.column("id").to_pylist()) == [1, 2]

    again = sync_source(settings, "src")
    assert again.dropped_tables == ["gone"] and again.kind == "idle"


def test_table_without_primary_key_is_refused_unless_replica_identity_full(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.nokey (a int, b text)")
    conn.execute("CREATE TABLE ris.full_rows (a int, b text)")
    conn.execute("ALTER TABLE ris.full_rows REPLICA IDENTITY FULL")
    conn.execute("INSERT INTO ris.full_rows VALUES (1, '甲'), (2, '乙'), (3, '丙')")

    listed = source_db.settings(tmp_path / "lake1", tables=["nokey"])
    with pytest.raises(DataError, match=r"ris\.nokey has no primary key.*REPLICA IDENTITY FULL"):
        sync_source(listed, "src")

    settings = source_db.settings(tmp_path / "lake2")
    report = sync_source(settings, "src")
    assert "no primary key" in report.refused_tables["nokey"]
    assert report.tables["full_rows"].rows == 3

    conn.execute("UPDATE ris.full_rows SET b = '乙乙' WHERE a = 2")
    conn.execute("DELETE FROM ris.full_rows WHERE a = 3")
    conn.execute("INSERT INTO ris.full_rows VALUES (4, NULL)")
    sync_source(settings, "src")
    rows = spark.read.format("delta").load(f"{settings.lake}/silver/src__full_rows").toArrow().to_pylist()
    assert sorted((r["a"], r["b"]) for r in rows) == [(1, "甲"), (2, "乙乙"), (4, None)]


def test_truncate_empties_silver_and_later_rows_land(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.t (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO ris.t SELECT g, 'v' || g FROM generate_series(1, 10) g")
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")
    conn.execute("INSERT INTO ris.t VALUES (11, 'before')")
    conn.execute("TRUNCATE ris.t")
    conn.execute("INSERT INTO ris.t VALUES (1, 'after')")
    report = sync_source(settings, "src")
    assert report.tables["t"].ops == {"insert": 2, "truncate": 1}
    rows = spark.read.format("delta").load(f"{settings.lake}/silver/src__t").toArrow().to_pylist()
    assert rows == [{"id": 1, "v": "after"}]


def test_table_created_later_is_snapshotted_consistently_with_the_stream(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.a (id int PRIMARY KEY, v text)")
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")
    conn.execute("CREATE TABLE ris.b (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO ris.b SELECT g, 'x' FROM generate_series(1, 50) g")
    conn.execute("UPDATE ris.b SET v = 'y' WHERE id <= 10")
    conn.execute("DELETE FROM ris.b WHERE id > 45")
    report = sync_source(settings, "src")
    assert report.snapshot_tables == ["b"] and report.tables["b"].ops == {"snapshot": 45}
    conn.execute("UPDATE ris.b SET v = 'z' WHERE id = 1")
    report = sync_source(settings, "src")
    # The changes before the snapshot are in it, not replayed on top of it.
    assert report.tables["b"].ops == {"update": 1}
    rows = spark.read.format("delta").load(f"{settings.lake}/silver/src__b").toArrow().to_pylist()
    assert len(rows) == 45 and {r["id"]: r["v"] for r in rows}[1] == "z" and {r["id"]: r["v"] for r in rows}[2] == "y"


def test_lost_slot_leads_to_a_new_snapshot_that_removes_deleted_rows(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute(ORDERS_DDL)
    work = Workload(seed=3)
    work.seed_rows(conn, 30)
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")
    conn.execute("SELECT pg_drop_replication_slot('radlake_src')")
    work.run(conn, 40)  # these changes have no slot to come through
    report = sync_source(settings, "src")
    assert report.kind == "snapshot"
    assert_orders_match(spark, settings, conn)
    work.run(conn, 20)
    sync_source(settings, "src")
    assert_orders_match(spark, settings, conn)
