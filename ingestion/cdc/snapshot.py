"""Consistent snapshots: copy whole source tables into the change log (``_op`` snapshot) and the silver state.

A snapshot is read inside the transaction snapshot exported when a replication slot was created, so it shows
exactly the rows committed before the slot's consistent point; the slot then yields every later change.
"""

from __future__ import annotations

import io
import itertools
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

from ingestion.cdc import state
from ingestion.cdc.apply import replace_state
from ingestion.cdc.log import snapshot_log_batch, source_columns
from ingestion.cdc.source_tables import SourceTable, quote_ident
from radlake.config import Settings

if TYPE_CHECKING:
    import psycopg

BATCH_BYTES = 16 << 20  # CSV block size: about 16 MiB of text per Arrow batch


class _CopyStream(io.RawIOBase):
    """A COPY TO STDOUT as a readable byte stream (for Arrow's streaming CSV reader)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = bytes(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def copy_text_batches(conn: psycopg.Connection, table: SourceTable) -> Iterator[pa.RecordBatch]:
    """Stream a table through ``COPY ... TO STDOUT (FORMAT csv)``: batches of string columns.

    Every non-null value is quoted (``FORCE_QUOTE *``), so an unquoted empty field is SQL NULL and ``""`` is
    the empty string.
    """
    names = [c.name for c in table.columns]
    select = ", ".join(quote_ident(n) for n in names)
    sql = f"COPY (SELECT {select} FROM {table.qualified}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"
    with conn.cursor() as cur, cur.copy(sql) as copy:
        chunks = iter(copy)
        first = next(chunks, None)
        if first is None:  # an empty table: Arrow's reader refuses an empty CSV
            return
        stream = io.BufferedReader(_CopyStream(itertools.chain([first], chunks)), buffer_size=1 << 20)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=BATCH_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
        yield from reader


def _empty_text_batch(table: SourceTable) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({c.name: pa.array([], pa.string()) for c in table.columns})


def land_snapshot(
    settings: Settings,
    source: str,
    table: SourceTable,
    text_batches: Iterable[pa.RecordBatch],
    *,
    version: int,
    position_column: str,
    position: int | None = None,
    watermark_column: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write a table's snapshot to its change log, then replace its silver state with it.

    The rows are spooled to a local Arrow file first, so tables larger than memory stream through and both
    commits read the same rows. Each commit carries the app transaction ``version``, so a snapshot replayed
    after a crash does not land twice.

    Parameters
    ----------
    text_batches
        The table's rows as string columns (PostgreSQL text output).
    version
        The snapshot's batch id: the slot's consistent point (logical) or the batch number (query).
    position_column, position, watermark_column
        ``_lsn`` with the snapshot LSN, or ``_watermark`` from ``watermark_column``.

    Returns
    -------
    int
        Rows in the snapshot.

    Raises
    ------
    DataError
        A value its column's type cannot hold, or a column whose type changed since the last snapshot.
    """
    columns = [(c.name, c.type_oid, c.typmod) for c in table.columns]
    where = f"{table.schema}.{table.name}"
    taken_us = time.time_ns() // 1000
    rows = 0
    with tempfile.TemporaryDirectory(prefix="radlake-snapshot-") as tmp:
        path = Path(tmp) / "snapshot.arrow"
        writer: pa.ipc.RecordBatchFileWriter | None = None
        try:
            for text in _with_empty(text_batches, table):
                batch = snapshot_log_batch(
                    text,
                    columns,
                    table.keys,
                    where=where,
                    batch_id=version,
                    seq_start=rows,
                    snapshot_time_us=taken_us,
                    position_column=position_column,
                    position=position,
                    watermark_column=watermark_column,
                )
                if writer is None:
                    writer = pa.ipc.new_file(str(path), batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows
                if progress and batch.num_rows:
                    progress(f"snapshot {where}: {rows} rows")
        finally:
            if writer is not None:
                writer.close()
        with pa.memory_map(str(path)) as source_file:
            spooled = pa.ipc.open_file(source_file)
            schema = spooled.schema
            batches = [spooled.get_batch(i) for i in range(spooled.num_record_batches)]
            state.append_log(
                settings, source, table.name, pa.RecordBatchReader.from_batches(schema, iter(batches)), version=version
            )
            state.crash_point("after_snapshot_log")
            keep = source_columns(schema)
            state_schema = pa.schema([schema.field(n) for n in keep])
            replace_state(
                settings,
                source,
                table.name,
                pa.RecordBatchReader.from_batches(state_schema, (b.select(keep) for b in batches)),
                version=version,
            )
    return rows


def _with_empty(text_batches: Iterable[pa.RecordBatch], table: SourceTable) -> Iterator[pa.RecordBatch]:
    """The batches, preceded by an empty one so that an empty table still gets its schema."""
    yield _empty_text_batch(table)
    yield from text_batches
