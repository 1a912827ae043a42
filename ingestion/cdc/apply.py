"""Apply change-log batches to the silver state tables: a pure Spark transform, then one MERGE per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.cdc import state
from ingestion.cdc.log import (
    BATCH_ID,
    DELETED,
    OP,
    SEQ,
    keys_of_log,
    old_key_column,
    source_columns,
    table_configuration,
)
from radlake.config import Settings
from radlake.errors import DataError, LakeError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def col(name: str) -> Column:
    """A column by its exact name: backticks quote it, so dots, spaces or backticks in a source name stay literal."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def latest_per_key(changes: DataFrame, keys: Sequence[str], columns: Sequence[str]) -> DataFrame:
    """Reduce change-log rows to the last change of each key, ready for a MERGE.

    An update that changed the key deletes the old key and writes the new one. Order is the log's
    (``_batch_id``, ``_seq``). Truncate rows are not handled here (see :func:`apply_batch`).

    Parameters
    ----------
    changes
        Change-log rows (source columns, ``_old_<key>`` columns, ``_op``, ``_batch_id``, ``_seq``).
    keys
        The row keys.
    columns
        The source columns to keep.

    Returns
    -------
    DataFrame
        ``columns`` plus a boolean ``_deleted``: one row per key touched.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    types = {f.name: f.dataType for f in changes.schema.fields}
    rows = changes.filter(col(OP) != "truncate")
    current = rows.select(*[col(c) for c in columns], col(OP), col(BATCH_ID), col(SEQ))
    key_changed = reduce(lambda a, b: a | b, [col(old_key_column(k)).isNotNull() for k in keys])
    old_keys = rows.filter(key_changed).select(
        *[col(old_key_column(c)).alias(c) if c in keys else F.lit(None).cast(types[c]).alias(c) for c in columns],
        F.lit("delete").alias(OP),
        col(BATCH_ID),
        col(SEQ),
    )
    window = Window.partitionBy(*[col(k) for k in keys]).orderBy(col(BATCH_ID).desc(), col(SEQ).desc(), col(OP).desc())
    latest = current.unionByName(old_keys).withColumn("_rank", F.row_number().over(window)).filter(col("_rank") == 1)
    return latest.select(*[col(c) for c in columns], (col(OP) == "delete").alias(DELETED))


def after_last_truncate(log: pa.Table) -> tuple[bool, pa.Table]:
    """Split change-log rows (in log order) at the last truncate: whether there is one, and the rows after it."""
    hits = pc.indices_nonzero(pc.equal(log.column(OP), "truncate"))
    if len(hits) == 0:
        return False, log
    return True, log.slice(hits[-1].as_py() + 1)


def _delta_type(f: pa.Field) -> str:
    """The Delta type a field is stored as (Arrow has several spellings of one Delta type)."""
    from deltalake import Schema

    return str(Schema.from_arrow(pa.schema([f])).fields[0].type)


def check_columns(where: str, names: Sequence[str]) -> None:
    """Refuse column names Spark and Delta cannot keep apart (they compare names ignoring case).

    Raises
    ------
    DataError
        Two columns whose names differ only in case.
    """
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise DataError(
                f"{where}: columns {other!r} and {name!r} differ only in case, which Spark and Delta cannot tell "
                "apart; rename one at the source"
            )


@dataclass
class PreparedBatch:
    """A batch of one table checked against silver and reduced to one row per key, ready to apply.

    Attributes
    ----------
    truncated
        The batch holds a truncate: silver is emptied before ``latest`` is merged.
    latest
        The last change per key (silver's columns, new columns, ``_deleted``), or None when nothing follows
        the last truncate.
    new_fields
        Source columns silver does not have yet (added, nullable, when the batch is applied).
    """

    keys: tuple[str, ...]
    truncated: bool
    latest: pa.Table | None
    new_fields: list[pa.Field] = field(default_factory=list)


def prepare_batch(
    spark: SparkSession, settings: Settings, source: str, table: str, keys: Sequence[str], log: pa.Table
) -> PreparedBatch:
    """Check that a batch of change-log rows can be applied to silver, and compute what the MERGE writes.

    Runs before the batch is appended to the change log: names, types and the MERGE statement are checked
    (the MERGE is planned by the engine, not run), so a batch that silver cannot take stops with nothing
    landed and the replication slot keeps its changes.

    Raises
    ------
    DataError
        Names ``source.table`` and the reason: columns equal but for case, a column whose type differs
        from silver's, or a MERGE the engine refuses.
    LakeError
        Silver is missing.
    """
    from pyspark.errors import PySparkException

    where = f"source {source!r}, table {table!r}"
    silver = state.state_table(settings, source, table, keys)
    dt = silver.delta()
    if dt is None:
        raise LakeError(f"silver table {silver.uri} is missing; move the change log aside to take a new snapshot")
    have = pa.schema(dt.schema().to_arrow())
    incoming = [log.schema.field(n) for n in source_columns(log.schema)]
    check_columns(where, [*have.names, *(f.name for f in incoming if f.name not in have.names)])
    for f in incoming:
        if f.name in have.names and _delta_type(f) != _delta_type(have.field(f.name)):
            raise DataError(
                f"{where}: column {f.name!r} arrives as {_delta_type(f)} but silver holds "
                f"{_delta_type(have.field(f.name))} (its type changed at the source); take a new snapshot of the table"
            )
    new_fields = [pa.field(f.name, f.type, nullable=True) for f in incoming if f.name not in have.names]
    truncated, rest = after_last_truncate(log)
    if not rest.num_rows:
        return PreparedBatch(tuple(keys), truncated, None, new_fields)
    # Silver columns the batch lacks (dropped at the source) become null on the rows the batch touches.
    for f in have:
        if f.name not in rest.schema.names:
            rest = rest.append_column(f.name, pa.nulls(rest.num_rows, f.type))
    columns = [*have.names, *(f.name for f in new_fields)]
    try:
        # Materialised once: Sail re-plans a window-function source for every MERGE clause, which made a
        # 50k-change batch 5x slower than computing the rows once and merging them.
        latest = latest_per_key(spark.createDataFrame(rest), keys, columns).toArrow()
        if not new_fields:  # new columns exist in silver only once the batch is applied
            frame = spark.createDataFrame(latest.slice(0, 1))  # only planned: one row carries the schema
            silver.spark_merge(spark, frame, delete_flag=DELETED, explain=True)
    except PySparkException as exc:
        reason = str(exc).strip().splitlines()[0][:300]
        raise DataError(f"{where}: the batch cannot be applied to silver ({reason})") from None
    return PreparedBatch(tuple(keys), truncated, latest, new_fields)


def apply_prepared(
    spark: SparkSession, settings: Settings, source: str, table: str, prepared: PreparedBatch, *, version: int
) -> None:
    """Apply a prepared batch to silver (truncate, new columns, one MERGE), then record ``version`` there."""
    silver = state.state_table(settings, source, table, prepared.keys)
    if prepared.truncated:
        silver.spark_delete(spark)
    if prepared.latest is not None:
        if prepared.new_fields:
            dt = silver.delta()
            assert dt is not None
            have = set(dt.schema().to_arrow().names)  # a replay after a crash may find them added
            fresh = [f for f in prepared.new_fields if f.name not in have]
            if fresh:
                # A schema change at the source reaches silver without a restart; nullable, or later MERGEs break.
                silver.add_columns(fresh)
        frame = spark.createDataFrame(prepared.latest)
        silver.spark_merge(spark, frame, delete_flag=DELETED)
    state.mark_state(settings, source, table, version)


def apply_batch(
    spark: SparkSession,
    settings: Settings,
    source: str,
    table: str,
    keys: Sequence[str],
    log: pa.Table,
    *,
    version: int,
) -> None:
    """Apply one batch of change-log rows of a table to its silver state, then record ``version`` there.

    Parameters
    ----------
    log
        The batch's change-log rows (as written to bronze).
    version
        The batch's app-transaction version.
    """
    prepared = prepare_batch(spark, settings, source, table, keys, log)
    apply_prepared(spark, settings, source, table, prepared, version=version)


def replace_state(
    settings: Settings,
    source: str,
    table: str,
    rows: pa.RecordBatchReader | pa.Table,
    *,
    version: int,
) -> None:
    """Replace a table's silver state with a snapshot, recording ``version`` in the same commit."""
    state.state_table(settings, source, table).replace(
        rows,
        configuration=table_configuration(rows.schema) or None,
        app_id=state.app_id(source, table),
        txn_version=version,
    )


def recover_state(spark: SparkSession, settings: Settings, source: str, table: str) -> int:
    """Bring silver up to its change log after a crash between the two commits.

    Re-applies the log's batches after silver's recorded version: a snapshot among them replaces silver,
    later batches are merged. Returns the number of change-log rows re-applied.
    """
    from pyspark.sql import functions as F

    position = state.table_position(settings, source, table)
    if not position.state_behind or position.log is None:
        return 0
    log_df = state.log_table(settings, source, table).read_spark(spark)
    if position.state is not None:
        log_df = log_df.filter(F.col(BATCH_ID) > position.state)
    pending = log_df.toArrow()
    keys = keys_of_log(pending.schema)
    snapshots = pc.filter(pending.column(BATCH_ID), pc.equal(pending.column(OP), "snapshot"))
    if len(snapshots):
        last = pc.max(snapshots).as_py()
        snap = pending.filter(pc.equal(pending.column(BATCH_ID), last))
        replace_state(settings, source, table, snap.select(source_columns(snap.schema)), version=last)
        pending = pending.filter(pc.greater(pending.column(BATCH_ID), last))
    if pending.num_rows:
        pending = pending.sort_by([(BATCH_ID, "ascending"), (SEQ, "ascending")])
        apply_batch(spark, settings, source, table, keys, pending, version=position.log)
    else:
        state.mark_state(settings, source, table, position.log)
    return pending.num_rows
