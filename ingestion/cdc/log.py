"""Rows of the bronze change log: a batch of captured changes of one table, as an Arrow table.

A change-log row holds the source row's columns under their source names with faithful types, then:

``_old_<key>``   the previous key values when an update changed the row's key (else null)
``_op``          ``insert``, ``update``, ``delete``, ``truncate`` or ``snapshot``
``_lsn``         logical mode: the end LSN of the source transaction's commit record (as an integer)
``_watermark``   query mode: the row's watermark column value
``_commit_time`` the source commit time (logical), the watermark time or the time radlake read the row (query)
``_batch_id``    the batch: its end LSN (logical) or its number (query); also the Delta app transaction version
``_seq``         the change's order within the batch: (``_batch_id``, ``_seq``) orders the whole log
``_change_date`` the UTC date of ``_commit_time``, the partition column
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.cdc.types import arrow_type, to_arrow
from radlake import catalog

OP = "_op"
LSN = "_lsn"
WATERMARK = "_watermark"
COMMIT_TIME = "_commit_time"
BATCH_ID = "_batch_id"
SEQ = "_seq"
CHANGE_DATE = "_change_date"
OLD_PREFIX = "_old_"
DELETED = "_deleted"  # only in the transient apply frame, never stored

METADATA = (OP, LSN, WATERMARK, COMMIT_TIME, BATCH_ID, SEQ, CHANGE_DATE, DELETED)
PARTITION_BY = catalog.CDC_LOG_PARTITION_BY


def reserved_column(name: str) -> bool:
    """Whether a source column name would clash with a change-log column."""
    return name in METADATA or name.startswith(OLD_PREFIX)


def old_key_column(key: str) -> str:
    """The change-log column holding a key's value before an update changed it."""
    return OLD_PREFIX + key


def keys_of_log(schema: pa.Schema) -> tuple[str, ...]:
    """The row keys of a table, read back from its change log's ``_old_<key>`` columns."""
    return tuple(n[len(OLD_PREFIX) :] for n in schema.names if n.startswith(OLD_PREFIX))


def source_columns(schema: pa.Schema) -> list[str]:
    """The source columns of a change-log schema (everything but radlake's columns)."""
    return [n for n in schema.names if not reserved_column(n)]


@dataclass
class TableChanges:
    """The changes of one table in one batch, column by column, as PostgreSQL text output.

    Decoders append to it; :func:`change_log_table` turns it into typed Arrow.
    ``types`` maps a column to its ``(type_oid, typmod)``; ``unchanged`` lists ``(row, column)`` cells that
    pgoutput sent as "unchanged TOAST value" and that must be filled from the row's previous version.
    """

    schema: str
    name: str
    keys: tuple[str, ...]
    columns: dict[str, list[str | None]] = field(default_factory=dict)
    types: dict[str, tuple[int, int]] = field(default_factory=dict)
    ops: list[str] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    positions: list[int | str | None] = field(default_factory=list)
    commit_us: list[int] = field(default_factory=list)
    old_keys: dict[str, list[str | None]] = field(default_factory=dict)
    unchanged: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for key in self.keys:
            self.old_keys.setdefault(key, [])

    def __len__(self) -> int:
        return len(self.ops)

    def add_column(self, name: str, type_oid: int, typmod: int) -> list[str | None]:
        """The value list of a column, created (null for earlier rows) when the column is new."""
        values = self.columns.get(name)
        if values is None:
            values = self.columns[name] = [None] * len(self.ops)
        self.types[name] = (type_oid, typmod)
        return values

    def op_counts(self) -> dict[str, int]:
        """How many changes of each kind."""
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op] = counts.get(op, 0) + 1
        return counts


def change_log_table(
    changes: TableChanges,
    *,
    batch_id: int,
    position_column: str = LSN,
    position_type: tuple[int, int] | None = None,
) -> pa.Table:
    """Build the change-log rows of one table's batch.

    Parameters
    ----------
    changes
        The decoded changes (text values).
    batch_id
        The batch's ``_batch_id``.
    position_column
        ``_lsn`` (positions are integers) or ``_watermark`` (positions are text of ``position_type``).
    position_type
        ``(type_oid, typmod)`` of the watermark column in query mode.

    Returns
    -------
    pyarrow.Table
        Source columns, ``_old_<key>`` columns, then the metadata columns.

    Raises
    ------
    DataError
        A value that its column's type cannot hold.
    """
    where = f"{changes.schema}.{changes.name}"
    arrays: dict[str, pa.Array] = {}
    for name, values in changes.columns.items():
        oid, typmod = changes.types[name]
        arrays[name] = to_arrow(values, oid, typmod, where=f"{where}.{name}")
    for key in changes.keys:
        oid, typmod = changes.types.get(key, (25, -1))
        arrays[old_key_column(key)] = to_arrow(changes.old_keys[key], oid, typmod, where=f"{where}.{key}")
    n = len(changes.ops)
    commit_time = pa.array(changes.commit_us, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    arrays[OP] = pa.array(changes.ops, type=pa.string())
    if position_column == LSN:
        arrays[LSN] = pa.array(changes.positions, type=pa.int64())
    else:
        oid, typmod = position_type or (25, -1)
        arrays[WATERMARK] = to_arrow(changes.positions, oid, typmod, where=f"{where} watermark")  # type: ignore[arg-type]
    arrays[COMMIT_TIME] = commit_time
    arrays[BATCH_ID] = pa.array([batch_id] * n, type=pa.int64())
    arrays[SEQ] = pa.array(changes.seq, type=pa.int64())
    arrays[CHANGE_DATE] = pc.cast(commit_time, pa.date32())
    return pa.table(arrays)


def snapshot_log_batch(
    text_batch: pa.RecordBatch,
    columns: Sequence[tuple[str, int, int]],
    keys: Sequence[str],
    *,
    where: str,
    batch_id: int,
    seq_start: int,
    snapshot_time_us: int,
    position_column: str = LSN,
    position: int | None = None,
    watermark_column: str | None = None,
) -> pa.RecordBatch:
    """Turn a batch of snapshot rows (all columns as PostgreSQL text) into change-log rows (``_op`` snapshot).

    Parameters
    ----------
    text_batch
        String columns named as the source columns.
    columns
        ``(name, type_oid, typmod)`` of each source column, in table order.
    keys
        The table's row keys (their ``_old_`` columns are null in a snapshot).
    where
        ``schema.table`` for error messages.
    batch_id, seq_start
        ``_batch_id`` of the snapshot; ``_seq`` of its first row.
    snapshot_time_us
        When the snapshot was taken (µs since the Unix epoch), used as ``_commit_time``.
    position_column, position, watermark_column
        ``_lsn`` with the snapshot's LSN (logical mode), or ``_watermark`` taken from ``watermark_column``.

    Returns
    -------
    pyarrow.RecordBatch
    """
    n = text_batch.num_rows
    arrays: dict[str, pa.Array] = {}
    types: dict[str, pa.DataType] = {}
    for name, oid, typmod in columns:
        arrays[name] = to_arrow(text_batch.column(name), oid, typmod, where=f"{where}.{name}")
        types[name] = arrow_type(oid, typmod)
    for key in keys:
        arrays[old_key_column(key)] = pa.nulls(n, type=types[key])
    commit_time = pa.array([snapshot_time_us] * n, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    arrays[OP] = pa.array(["snapshot"] * n, type=pa.string())
    if position_column == LSN:
        arrays[LSN] = pa.array([position] * n, type=pa.int64())
    else:
        assert watermark_column is not None
        arrays[WATERMARK] = arrays[watermark_column]
    arrays[COMMIT_TIME] = commit_time
    arrays[BATCH_ID] = pa.array([batch_id] * n, type=pa.int64())
    arrays[SEQ] = pa.array(range(seq_start, seq_start + n), type=pa.int64())
    arrays[CHANGE_DATE] = pc.cast(commit_time, pa.date32())
    return pa.RecordBatch.from_pydict(arrays)


def table_configuration(schema: pa.Schema) -> dict[str, str | None]:
    """Delta table properties for a new change log or state table: file statistics on all but float columns.

    Sail 0.7.2 reads a float column of a file whose statistics say min == max (a one-row file, as a small MERGE
    writes) from the JSON statistics, parsed 1 ulp off for about one value in ten; without statistics on
    float columns it reads the Parquet values. Columns added later get no statistics. Names other than plain
    ASCII identifiers are quoted with backticks (a backtick doubled), as delta-rs and Sail read the property.
    """
    names = [f.name for f in schema if not pa.types.is_floating(f.type)]
    if len(names) == len(schema.names):
        return {}
    quoted = [n if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) else "`" + n.replace("`", "``") + "`" for n in names]
    return {"delta.dataSkippingStatsColumns": ",".join(quoted)}
