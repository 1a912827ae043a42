"""Query mode: capture through plain SQL for sources without logical decoding (vendor views, replicas).

Each batch reads the rows whose watermark column (e.g. ``updated_at``) is at or after the last watermark seen,
minus a small overlap for transactions that committed late; rows equal to silver's are dropped, so the log
holds each observed change once. A periodic key comparison finds the keys silver has and the source no
longer has (deletes, and the old key of a key change) and keys the source has and silver lacks.

Limits (documented): an update whose transaction commits more than the overlap after its watermark value
was set, and that no later update touches, is missed until the row changes again; intermediate versions
between two batches are not seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from functools import reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.cdc.log import (
    BATCH_ID,
    CHANGE_DATE,
    COMMIT_TIME,
    OP,
    SEQ,
    WATERMARK,
    old_key_column,
)
from ingestion.cdc.source_tables import SourceTable, quote_ident
from ingestion.cdc.types import TEXT_LOADED_OIDS, arrow_type, to_arrow

if TYPE_CHECKING:
    import psycopg
    from pyspark.sql import DataFrame

WATERMARK_OVERLAP = timedelta(seconds=5)
FETCH_ROWS = 50_000


def text_loaders(conn: psycopg.Connection) -> None:
    """Make the connection return every value as PostgreSQL's text output (converted by :mod:`types`)."""
    from psycopg.types.string import TextLoader

    for oid in TEXT_LOADED_OIDS:
        conn.adapters.register_loader(oid, TextLoader)


def _text_batch(rows: list[tuple], names: Sequence[str]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.RecordBatch.from_pydict({n: pa.array(list(v), pa.string()) for n, v in zip(names, columns, strict=True)})


def select_text_batches(
    conn: psycopg.Connection, table: SourceTable, where: str = "", params: Sequence[Any] = ()
) -> Iterator[pa.RecordBatch]:
    """``SELECT`` the table's columns (optionally filtered) as batches of text columns, through a cursor."""
    names = [c.name for c in table.columns]
    sql = f"SELECT {', '.join(quote_ident(n) for n in names)} FROM {table.qualified} {where}"
    with conn.transaction(), conn.cursor(name=f"radlake_{table.name}") as cur:
        cur.execute(sql, params)
        while rows := cur.fetchmany(FETCH_ROWS):
            yield _text_batch(rows, names)


def typed(batch: pa.RecordBatch | pa.Table, table: SourceTable) -> pa.Table:
    """Text columns → the table's faithful Arrow types."""
    where = f"{table.schema}.{table.name}"
    return pa.table(
        {c.name: to_arrow(batch.column(c.name), c.type_oid, c.typmod, where=f"{where}.{c.name}") for c in table.columns}
    )


def changed_since(conn: psycopg.Connection, table: SourceTable, watermark_column: str, since: Any | None) -> pa.Table:
    """Rows whose watermark is at or after ``since`` (all rows when None), typed, ordered by watermark."""
    wm = quote_ident(watermark_column)
    where, params = (f"WHERE {wm} >= %s ORDER BY {wm}", (since,)) if since is not None else (f"ORDER BY {wm}", ())
    batches = [typed(b, table) for b in select_text_batches(conn, table, where, params)]
    return pa.concat_tables(batches) if batches else typed(_text_batch([], [c.name for c in table.columns]), table)


def source_keys(conn: psycopg.Connection, table: SourceTable) -> pa.Table:
    """Every key of the table at the source, typed."""
    names = list(table.keys)
    sql = f"SELECT {', '.join(quote_ident(k) for k in names)} FROM {table.qualified}"
    rows = conn.execute(sql).fetchall()
    batch = _text_batch(rows, names)
    cols = {c.name: c for c in table.columns}
    return pa.table(
        {k: to_arrow(batch.column(k), cols[k].type_oid, cols[k].typmod, where=f"{table.name}.{k}") for k in names}
    )


def rows_by_key(conn: psycopg.Connection, table: SourceTable, keys: pa.Table) -> pa.Table:
    """The current source rows of the given keys, typed."""
    key_list = ", ".join(quote_ident(k) for k in table.keys)
    one = "(" + ", ".join(["%s"] * len(table.keys)) + ")"
    rows = list(zip(*[keys.column(k).to_pylist() for k in table.keys], strict=True))
    batches = [typed(_text_batch([], [c.name for c in table.columns]), table)]
    for start in range(0, len(rows), 1000):  # stay far below PostgreSQL's 65535 parameters
        chunk = rows[start : start + 1000]
        where = f"WHERE ({key_list}) IN ({', '.join([one] * len(chunk))})"
        params = [v for row in chunk for v in row]
        batches += [typed(b, table) for b in select_text_batches(conn, table, where, params)]
    return pa.concat_tables(batches)


# --- pure transforms (Spark) ---------------------------------------------------------------------------


def classify_changes(candidates: DataFrame, state: DataFrame, keys: Sequence[str], columns: Sequence[str]) -> DataFrame:
    """Keep the candidate rows that are new or differ from silver, with ``_op`` insert or update.

    Parameters
    ----------
    candidates
        Source rows read this batch.
    state
        The silver table.
    keys, columns
        Row keys and the columns compared (null-safe).

    Returns
    -------
    DataFrame
        ``columns`` plus ``_op``.
    """
    from pyspark.sql import functions as F

    from ingestion.cdc.apply import col

    s = state.select(*[col(c).alias(f"_s_{c}") for c in columns if c in state.columns])
    on = reduce(lambda a, b: a & b, [col(k).eqNullSafe(col(f"_s_{k}")) for k in keys])
    joined = candidates.join(s, on, "left")
    same = reduce(
        lambda a, b: a & b,
        [col(c).eqNullSafe(col(f"_s_{c}")) if c in state.columns else col(c).isNull() for c in columns],
    )
    missing = col(f"_s_{keys[0]}").isNull()
    op = F.when(missing, F.lit("insert")).otherwise(F.lit("update"))
    return joined.filter(missing | ~same).select(*[col(c) for c in columns], op.alias(OP))


def key_differences(source: DataFrame, state: DataFrame, keys: Sequence[str]) -> tuple[DataFrame, DataFrame]:
    """Keys silver holds that the source lost (deleted), and keys the source has that silver lacks."""
    from ingestion.cdc.apply import col

    state_keys = state.select(*[col(k) for k in keys])
    return state_keys.join(source, list(keys), "left_anti"), source.join(state_keys, list(keys), "left_anti")


# --- change-log rows -----------------------------------------------------------------------------------


def query_log_table(
    table: SourceTable,
    upserts: pa.Table,
    deleted_keys: pa.Table,
    *,
    watermark_column: str,
    batch_id: int,
    read_us: int,
) -> pa.Table:
    """Change-log rows of a query-mode batch: the inserts and updates, then the deletes.

    ``_commit_time`` is the watermark when it is a timestamp (the source's own change time), else the time
    radlake read the row; deletes carry the read time.
    """
    columns = [(c.name, arrow_type(c.type_oid, c.typmod)) for c in table.columns]
    n_up, n_del = upserts.num_rows, deleted_keys.num_rows
    arrays: dict[str, pa.Array] = {}
    for name, typ in columns:
        ups = upserts.column(name).combine_chunks().cast(typ)
        dels = deleted_keys.column(name).combine_chunks().cast(typ) if name in table.keys else pa.nulls(n_del, typ)
        arrays[name] = pa.concat_arrays([ups, dels])
    for key in table.keys:
        arrays[old_key_column(key)] = pa.nulls(n_up + n_del, arrays[key].type)
    arrays[OP] = pa.concat_arrays(
        [upserts.column(OP).combine_chunks().cast(pa.string()), pa.array(["delete"] * n_del, pa.string())]
    )
    wm = arrays[watermark_column]
    read_time = pa.array([read_us] * (n_up + n_del), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_timestamp(wm.type):
        commit_time = pc.coalesce(wm.cast(pa.timestamp("us", tz="UTC")), read_time)
    else:
        commit_time = read_time
    arrays[WATERMARK] = wm
    arrays[COMMIT_TIME] = commit_time
    arrays[BATCH_ID] = pa.array([batch_id] * (n_up + n_del), pa.int64())
    arrays[SEQ] = pa.array(range(n_up + n_del), pa.int64())
    arrays[CHANGE_DATE] = pc.cast(commit_time, pa.date32())
    return pa.table(arrays)
