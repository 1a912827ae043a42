"""The pure apply transform: change-log rows → the last change per key, with key changes and deletes."""

from __future__ import annotations

import pyarrow as pa

from ingestion.cdc.apply import after_last_truncate, latest_per_key


def _log(rows: list[tuple]) -> pa.Table:
    """Rows of (id, v, _old_id, _op, _batch_id, _seq)."""
    names = ["id", "v", "_old_id", "_op", "_batch_id", "_seq"]
    types = [pa.int64(), pa.string(), pa.int64(), pa.string(), pa.int64(), pa.int64()]
    cols = list(zip(*rows, strict=True))
    return pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, cols, types, strict=True)})


def test_latest_change_per_key_wins_in_log_order(spark):
    log = _log(
        [
            (1, "a", None, "insert", 10, 0),
            (1, "b", None, "update", 10, 1),
            (2, "x", None, "insert", 10, 2),
            (2, None, None, "delete", 20, 0),
            (3, "c", None, "update", 20, 1),
            (1, "z", None, "update", 9, 5),  # an older batch: loses despite its larger _seq
        ]
    )
    out = latest_per_key(spark.createDataFrame(log), ["id"], ["id", "v"]).toArrow().to_pylist()
    assert sorted((r["id"], r["v"], r["_deleted"]) for r in out) == [
        (1, "b", False),
        (2, None, True),
        (3, "c", False),
    ]


def test_key_change_deletes_the_old_key_and_writes_the_new_one(spark):
    log = _log(
        [
            (5, "a", None, "insert", 1, 0),
            (6, "a", 5, "update", 1, 1),  # key 5 → 6
            (5, "again", None, "insert", 1, 2),  # key 5 reused afterwards: it lives again
            (8, "b", 7, "update", 1, 3),  # key 7 (only in silver) → 8
        ]
    )
    out = latest_per_key(spark.createDataFrame(log), ["id"], ["id", "v"]).toArrow().to_pylist()
    assert sorted((r["id"], r["v"], r["_deleted"]) for r in out) == [
        (5, "again", False),
        (6, "a", False),
        (7, None, True),
        (8, "b", False),
    ]


def test_rows_after_the_last_truncate_are_kept():
    log = _log([(1, "a", None, "insert", 1, 0), (None, None, None, "truncate", 1, 1), (2, "b", None, "insert", 1, 2)])
    truncated, rest = after_last_truncate(log)
    assert truncated and rest.column("id").to_pylist() == [2]
    assert after_last_truncate(rest) == (False, rest)
