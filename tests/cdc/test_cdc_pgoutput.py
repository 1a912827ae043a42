"""The pgoutput decoder, on messages built from the protocol's documented layout and on a real server's."""

from __future__ import annotations

import struct

import pytest

from ingestion.cdc.pgoutput import PG_EPOCH_US, PgOutputDecoder
from ingestion.cdc.sync import sync_source

INT8, TEXT = 20, 25


def relation(relid: int, name: str, columns: list[tuple[str, int, bool]], schema: str = "ris") -> bytes:
    body = struct.pack("!I", relid) + schema.encode() + b"\0" + name.encode() + b"\0" + b"d"
    body += struct.pack("!h", len(columns))
    for col, oid, key in columns:
        body += struct.pack("!b", 1 if key else 0) + col.encode() + b"\0" + struct.pack("!Ii", oid, -1)
    return b"R" + body


def tuple_data(values: list) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v == "<unchanged>":
            out += b"u"
        else:
            raw = v.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def begin(final_lsn: int, commit_us: int) -> bytes:
    return b"B" + struct.pack("!qqI", final_lsn, commit_us - PG_EPOCH_US, 7)


def commit(commit_lsn: int, end_lsn: int, commit_us: int) -> bytes:
    return b"C" + struct.pack("!bqqq", 0, commit_lsn, end_lsn, commit_us - PG_EPOCH_US)


def insert(relid: int, values: list) -> bytes:
    return b"I" + struct.pack("!I", relid) + b"N" + tuple_data(values)


def update(relid: int, values: list, old_key: list | None = None) -> bytes:
    old = b"K" + tuple_data(old_key) if old_key is not None else b""
    return b"U" + struct.pack("!I", relid) + old + b"N" + tuple_data(values)


def delete(relid: int, key: list) -> bytes:
    return b"D" + struct.pack("!I", relid) + b"K" + tuple_data(key)


T0 = 1_700_000_000_000_000
COLS = [("id", INT8, True), ("name", TEXT, False), ("note", TEXT, False)]


def test_decodes_inserts_updates_key_changes_deletes_and_truncates():
    messages = [
        begin(100, T0),
        relation(16400, "orders", COLS),
        relation(16401, "other", COLS),
        insert(16400, ["1", "张三", None]),
        insert(16401, ["9", "x", "y"]),  # not captured
        update(16400, ["1", "李四", "<unchanged>"]),
        commit(100, 120, T0),
        begin(200, T0 + 5),
        update(16400, ["2", "李四", "n"], old_key=["1", None, None]),
        delete(16400, ["2", None, None]),
        b"T" + struct.pack("!ib", 1, 0) + struct.pack("!I", 16400),
        commit(200, 230, T0 + 5),
    ]
    decoded = PgOutputDecoder("ris", {"orders": ("id",)}).feed_all(messages)
    assert set(decoded.tables) == {"orders"}
    orders = decoded.tables["orders"]
    assert orders.ops == ["insert", "update", "update", "delete", "truncate"]
    assert orders.columns["id"] == ["1", "1", "2", "2", None]
    assert orders.columns["name"] == ["张三", "李四", "李四", None, None]
    assert orders.old_keys["id"] == [None, None, "1", None, None]
    assert orders.unchanged == [(1, "note")]
    assert orders.positions == [120, 120, 230, 230, 230]
    assert orders.commit_us == [T0, T0, T0 + 5, T0 + 5, T0 + 5]
    assert orders.seq == [0, 1, 2, 3, 4]
    assert [(t.end_lsn, t.changes) for t in decoded.transactions] == [(120, 2), (230, 3)]
    assert decoded.last_end_lsn == 230


def test_skips_transactions_already_in_the_log_and_follows_new_columns():
    messages = [
        begin(100, T0),
        relation(1, "orders", COLS),
        insert(1, ["1", "a", None]),
        commit(100, 120, T0),
        begin(300, T0 + 1),
        relation(1, "orders", [*COLS, ("priority", TEXT, False)]),
        insert(1, ["2", "b", None, "急"]),
        commit(300, 320, T0 + 1),
    ]
    decoded = PgOutputDecoder("ris", {"orders": ("id",)}, {"orders": 120}, seq_start=10).feed_all(messages)
    orders = decoded.tables["orders"]
    assert orders.columns == {"id": ["2"], "name": ["b"], "note": [None], "priority": ["急"]}
    assert orders.seq == [10]

    decoded = PgOutputDecoder("ris", {"orders": ("id",)}).feed_all(messages)
    assert decoded.tables["orders"].columns["priority"] == [None, "急"]


@pytest.mark.integration
def test_unchanged_toast_values_are_filled_from_the_batch_and_from_silver(source_db, tmp_path, spark):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.reports (id int PRIMARY KEY, status text, findings text)")
    big = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(4000))  # incompressible: stored out of line
    conn.execute("INSERT INTO ris.reports VALUES (1, 'draft', %s), (2, 'draft', %s)", (big, big[::-1]))
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")

    conn.execute("UPDATE ris.reports SET status = 'signed' WHERE id = 1")  # findings unchanged: from silver
    conn.execute("INSERT INTO ris.reports VALUES (3, 'draft', %s)", (big[:3500],))
    conn.execute("UPDATE ris.reports SET status = 'signed' WHERE id = 3")  # from the insert in the same batch
    conn.execute("UPDATE ris.reports SET id = 4 WHERE id = 2")  # key change, findings unchanged
    peeked = conn.execute(
        "SELECT data FROM pg_logical_slot_peek_binary_changes('radlake_src', NULL, NULL, "
        "'proto_version', '1', 'publication_names', 'radlake_src')"
    ).fetchall()
    decoded = PgOutputDecoder("ris", {"reports": ("id",)}).feed_all(bytes(r[0]) for r in peeked)
    assert len(decoded.tables["reports"].unchanged) == 3  # PostgreSQL really left them out

    sync_source(settings, "src")
    rows = spark.read.format("delta").load(f"{settings.lake}/silver/src__reports").toArrow().to_pylist()
    assert {r["id"]: (r["status"], r["findings"]) for r in rows} == {
        1: ("signed", big),
        3: ("signed", big[:3500]),
        4: ("draft", big[::-1]),
    }


def test_unchanged_toast_values_are_found_under_timestamptz_and_boolean_keys(source_db, tmp_path, spark):
    """Keys whose PostgreSQL text differs from Python's (``2026-11-01 08:00:00+00``, ``t``) still find the row."""
    conn = source_db.conn
    conn.execute(
        "CREATE TABLE ris.notes (taken_at timestamptz, urgent boolean, status text, body text,"
        " PRIMARY KEY (taken_at, urgent))"
    )
    big = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(4000))
    conn.execute("INSERT INTO ris.notes VALUES ('2026-11-01 16:00+08', true, 'draft', %s)", (big,))
    settings = source_db.settings(tmp_path / "lake")
    sync_source(settings, "src")
    conn.execute("UPDATE ris.notes SET status = 'signed'")  # body unchanged: PostgreSQL leaves it out
    sync_source(settings, "src")
    rows = spark.read.format("delta").load(f"{settings.lake}/silver/src__notes").toArrow().to_pylist()
    assert [(r["urgent"], r["status"], r["body"]) for r in rows] == [(True, "signed", big)]
