"""Library entry points of change data capture: one batch (:func:`sync_source`) or a stream (:func:`stream_source`).

A batch, logical mode:

1. read the catalog (tables, keys; refused tables; tables dropped at the source);
2. bring silver up to the change log where a crash left it behind;
3. snapshot the tables that have none yet, consistent with the slot (the slot's exported snapshot the first
   time; a temporary slot's later, for tables added afterwards);
4. peek the slot's pending transactions (at most ``cdc.batch_messages`` messages), decode them, and check per
   table that the batch can be applied to silver (identifiers, types, the MERGE planned but not run); only
   then, per table: append them to the change log (one commit, app transaction = batch end LSN), MERGE their
   net effect into silver, record the LSN there;
5. advance the slot to the batch end.

A sync (:func:`sync_source`) repeats batches until the lake holds everything committed before it started, or
until ``cdc.max_sync_seconds`` passed (a warning then names the lag left). Its outcome, or the error that
stopped it, is recorded for ``radlake cdc status``, the CDC sensor and the stewards' page (:mod:`.status`).

Query mode replaces 3-5 with a watermark read, a comparison with silver and a periodic key comparison.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ingestion.cdc import apply, logical, query_mode, state, toast
from ingestion.cdc.log import WATERMARK, change_log_table, keys_of_log
from ingestion.cdc.pgoutput import PgOutputDecoder
from ingestion.cdc.report import SyncReport, TableReport
from ingestion.cdc.snapshot import copy_text_batches, land_snapshot
from ingestion.cdc.source_tables import RefusedTable, SourceTable, discover_tables, quote_ident, wanted
from ingestion.cdc.state import TablePosition, captured_tables, crash_point, format_lsn
from ingestion.cdc.status import SourceStatus, source_status
from ingestion.cdc.types import SESSION_SETTINGS
from radlake.config import Settings, SourceConfig
from radlake.errors import ConfigError, DataError, RadlakeError, SourceUnreachableError

if TYPE_CHECKING:
    import psycopg
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
REFRESH_INTERVAL_S = 5.0  # stream mode: how often the catalog is re-read (new tables, dropped tables)
RECONCILE_INTERVAL_S = 60.0  # stream mode, query mode: how often keys are compared to catch deletes
MAX_LATENCIES = 10_000  # per sync report: the newest transactions' commit-to-silver latencies
RECORD_INTERVAL_S = 60.0  # stream mode: how often the outcome is recorded for `radlake cdc status`


__all__ = [
    "SourceStatus",
    "SyncBusyError",
    "SyncReport",
    "TableReport",
    "source_status",
    "stream_source",
    "sync_source",
]


class SyncBusyError(RadlakeError):
    """Another radlake process is capturing the same source."""


@contextlib.contextmanager
def _source_lock(settings: Settings, source: str) -> Iterator[None]:
    """One capturing process per source: a lock file under the local state folder (released on any exit)."""
    from radlake.private import state_folder

    path = state_folder(settings, "cdc") / f"{source}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusyError(f"source {source!r} is being captured by another radlake process ({path})") from None
        yield


class _Capture:
    """The state one process keeps for one source across batches (connections, positions, catalog)."""

    def __init__(self, settings: Settings, name: str, progress: Progress | None) -> None:
        if name not in settings.sources:
            have = ", ".join(sorted(settings.sources)) or "none"
            raise ConfigError(f"no source {name!r} in the config (configured: {have})")
        self.settings = settings
        self.name = name
        self.source: SourceConfig = settings.sources[name]
        self.progress: Progress = progress or (lambda message: log.info("%s", message))
        self.slot = logical.slot_name(name)
        self._conn: psycopg.Connection | None = None
        self._spark: SparkSession | None = None
        self.positions: dict[str, TablePosition] = {}
        self.tables: dict[str, SourceTable] = {}
        self.refused: dict[str, str] = {}
        self.dropped: list[str] = []
        self.known = captured_tables(settings, name)
        self.keys_of_dropped: dict[str, tuple[str, ...]] = {}
        self.refreshed_at = 0.0
        self.reconciled_at = 0.0
        self.recovered = False
        self.watermarks: dict[str, Any] = {}

    # --- connections ---------------------------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            from radlake.postgres import connect

            conn = connect(self.source, self.name, autocommit=True)
            for setting, value in SESSION_SETTINGS:
                conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
            if self.source.mode == "query":
                query_mode.text_loaders(conn)
            self._conn = conn
        return self._conn

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from radlake.spark import spark_session

            self._spark = spark_session(self.settings)
        return self._spark

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reset(self) -> None:
        """Forget what this process cached, after a batch failed half-way: the next one re-reads it all."""
        self.close()
        self.positions.clear()
        self.watermarks.clear()
        self.tables = {}
        self.recovered = False
        self.refreshed_at = 0.0

    # --- catalog and positions -----------------------------------------------------------------------

    def position(self, table: str) -> TablePosition:
        if table not in self.positions:
            self.positions[table] = state.table_position(self.settings, self.name, table)
        return self.positions[table]

    def refresh(self, report: SyncReport) -> None:
        """Re-read the catalog: capturable, refused and dropped tables."""
        src = self.source
        tables, refused, missing = discover_tables(self.conn, src.db_schema, src.tables, mode=src.mode)
        if src.mode == "query":
            assert src.watermark_column is not None
            for t in [t for t in tables if t.column(src.watermark_column) is None]:
                tables.remove(t)
                reason = f"{src.db_schema}.{t.name} has no watermark column {src.watermark_column!r}"
                refused.append(RefusedTable(t.name, reason))
        else:
            uncovered = logical.ensure_publication(self.conn, self.name, src.db_schema, tables)
            for t in [t for t in tables if t.name in uncovered]:
                tables.remove(t)
                reason = f"{src.db_schema}.{t.name} is not in publication {self.slot} (ALTER PUBLICATION ... ADD TABLE)"
                refused.append(RefusedTable(t.name, reason))
        explicit = [p for p in src.tables if not any(ch in p for ch in "*?[")]
        for refusal in refused:
            if refusal.name in explicit:
                raise DataError(f"source {self.name!r}: {refusal.reason}")
        self.tables = {t.name: t for t in tables}
        self.refused = {r.name: r.reason for r in refused}
        gone = (self.known | set(missing)) - set(self.tables) - set(self.refused)
        self.dropped = sorted(n for n in gone if wanted(n, src.tables) or n in self.known)
        self.refreshed_at = time.monotonic()
        report.refused_tables = dict(self.refused)
        report.dropped_tables = list(self.dropped)
        for name in self.dropped:
            log.warning("source %s: table %s.%s no longer exists at the source", self.name, src.db_schema, name)

    def recover(self, report: SyncReport) -> None:
        """Bring silver up to the change log for tables a crash left behind (once per process)."""
        if self.recovered:
            return
        for name in sorted(self.known | set(self.tables)):
            pos = self.position(name)
            if pos.state_behind:
                rows = apply.recover_state(self.spark, self.settings, self.name, name)
                self.positions[name] = TablePosition(pos.log, pos.log)
                report.recovered_tables.append(name)
                self.progress(f"{self.name}.{name}: silver brought up to the change log ({rows} rows re-applied)")
        self.recovered = True

    def keys_for(self, name: str) -> tuple[str, ...]:
        """Row keys of a table: from the catalog, or from its change log when the source dropped it."""
        if name in self.tables:
            return self.tables[name].keys
        if name not in self.keys_of_dropped:
            dt = state.log_table(self.settings, self.name, name).delta()
            self.keys_of_dropped[name] = keys_of_log(pa.schema(dt.schema().to_arrow())) if dt is not None else ()
        return self.keys_of_dropped[name]

    def note_snapshot(self, table: str, version: int, rows: int, report: SyncReport) -> None:
        self.positions[table] = TablePosition(version, version)
        self.known.add(table)
        report.snapshot_tables.append(table)
        report.tables[table] = TableReport(rows, {"snapshot": rows})
        report.kind = "snapshot"


# --- logical mode ------------------------------------------------------------------------------------------


def _logical_snapshot(cap: _Capture, tables: list[SourceTable], report: SyncReport, *, temporary: bool) -> None:
    """Snapshot ``tables`` consistently with the slot (created now, or a temporary one for later tables)."""
    import psycopg

    from radlake.postgres import source_uri

    with logical.exported_snapshot(cap.source, cap.name, temporary=temporary) as (lsn, snapshot_name):
        cap.progress(f"{cap.name}: snapshot of {len(tables)} table(s) at {format_lsn(lsn)}")
        with psycopg.connect(source_uri(cap.source), autocommit=True) as conn:
            for setting, value in SESSION_SETTINGS:
                conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_name}'")  # a name PostgreSQL made: no quoting needed
            for table in tables:
                rows = land_snapshot(
                    cap.settings,
                    cap.name,
                    table,
                    copy_text_batches(conn, table),
                    version=lsn,
                    position_column="_lsn",
                    position=lsn,
                    progress=cap.progress,
                )
                cap.note_snapshot(table.name, lsn, rows, report)
            conn.execute("COMMIT")
    report.position = format_lsn(lsn)


def _ensure_slot(cap: _Capture, report: SyncReport) -> logical.SlotInfo | None:
    """Create the slot with a snapshot of every table when there is none (or it was invalidated)."""
    slot = logical.slot_info(cap.conn, cap.slot)
    dbname = cap.conn.info.dbname
    if slot is not None and slot.database != dbname:
        raise DataError(f"source {cap.name!r}: replication slot {cap.slot} belongs to database {slot.database!r}")
    if slot is not None and slot.lost:
        log.warning("source %s: slot %s lost WAL it needed; taking a new snapshot", cap.name, cap.slot)
        logical.drop_slot(cap.conn, cap.slot)
        slot = None
    if slot is None:
        tables = list(cap.tables.values())
        if any(not cap.position(t.name).needs_snapshot for t in tables):
            log.warning("source %s: no replication slot for captured tables; taking a new snapshot", cap.name)
        _logical_snapshot(cap, tables, report, temporary=False)
        slot = logical.slot_info(cap.conn, cap.slot)
    else:
        new = [t for t in cap.tables.values() if cap.position(t.name).needs_snapshot]
        if new:
            _logical_snapshot(cap, new, report, temporary=True)
    return slot


def _peek(cap: _Capture, upto: int | None, max_messages: int) -> list[bytes]:
    import psycopg

    for attempt in range(50):
        try:
            return logical.peek_changes(cap.conn, cap.slot, upto_lsn=upto, max_messages=max_messages)
        except psycopg.errors.ObjectInUse:
            # `radlake cdc status` peeks the slot for a moment; wait for it.
            time.sleep(0.02 * (attempt + 1))
    raise SourceUnreachableError(f"source {cap.name!r}: replication slot {cap.slot} is in use by another session")


def _logical_batch(cap: _Capture, report: SyncReport, max_messages: int) -> None:
    cap.recover(report)
    slot = _ensure_slot(cap, report)
    assert slot is not None
    insert_lsn, flush_lsn = logical.wal_positions(cap.conn)
    upto = insert_lsn if flush_lsn >= insert_lsn else None  # a flushed record boundary, or "everything flushed"
    messages = _peek(cap, upto, max_messages)
    captured = {n: cap.keys_for(n) for n in (set(cap.tables) | cap.known) if not cap.position(n).needs_snapshot}
    captured = {n: k for n, k in captured.items() if k}
    skip = {n: cap.position(n).log or 0 for n in captured}
    decoded = PgOutputDecoder(cap.source.db_schema, captured, skip).feed_all(messages)
    drained = len(messages) < max_messages
    end = upto if (drained and upto is not None) else decoded.last_end_lsn
    # Every table's batch is checked against silver before any is appended: a batch that cannot be applied
    # stops here, with nothing landed, instead of leaving a change log that silver can never follow.
    ready: list[tuple[str, pa.Table, apply.PreparedBatch]] = []
    for name, changes in decoded.tables.items():
        if not len(changes):
            continue
        assert end is not None
        unknown = toast.fill_from_batch(changes)
        toast.fill_from_state(cap.spark, cap.settings, cap.name, changes, unknown)
        log_rows = change_log_table(changes, batch_id=end)
        prepared = apply.prepare_batch(cap.spark, cap.settings, cap.name, name, changes.keys, log_rows)
        ready.append((name, log_rows, prepared))
        report.tables[name] = TableReport(len(changes), changes.op_counts())
    for name, log_rows, prepared in ready:
        assert end is not None
        state.append_log(cap.settings, cap.name, name, log_rows, version=end)
        crash_point("after_log")
        apply.apply_prepared(cap.spark, cap.settings, cap.name, name, prepared, version=end)
        cap.positions[name] = TablePosition(end, end)
    visible = time.time()
    if report.changes:
        report.kind = "changes"
        report.latencies = [(visible - t.commit_us / 1e6, t.changes) for t in decoded.transactions if t.changes]
    crash_point("after_state")
    if end is not None and (slot.confirmed_flush is None or end > slot.confirmed_flush):
        logical.advance_slot(cap.conn, cap.slot, end)
    position = end if end is not None else slot.confirmed_flush
    report.position = format_lsn(position)
    report.position_lsn = position
    report.drained = drained
    current, _ = logical.wal_positions(cap.conn)
    report.lag_bytes = max(0, current - position) if position is not None else None
    newest = decoded.transactions[-1].commit_us / 1e6 if decoded.transactions else None
    report.lag_seconds = 0.0 if drained or newest is None else max(0.0, visible - newest)


# --- query mode --------------------------------------------------------------------------------------------


def _watermark(cap: _Capture, table: SourceTable) -> Any:
    """The latest watermark silver holds for a table (cached between batches)."""
    from pyspark.sql import functions as F

    if table.name not in cap.watermarks:
        column = cap.source.watermark_column
        assert column is not None
        silver = state.state_table(cap.settings, cap.name, table.name).read_spark(cap.spark)
        cap.watermarks[table.name] = silver.agg(F.max(apply.col(column)).alias("m")).toArrow().column("m")[0].as_py()
    return cap.watermarks[table.name]


def _query_batch(cap: _Capture, report: SyncReport, reconcile: bool) -> None:
    column = cap.source.watermark_column
    assert column is not None
    cap.recover(report)
    done = [p.log for n in cap.tables if (p := cap.position(n)).log is not None]
    batch_id = max(done, default=0) + 1
    read_us = time.time_ns() // 1000
    for table in cap.tables.values():
        if cap.position(table.name).needs_snapshot:
            rows = land_snapshot(
                cap.settings,
                cap.name,
                table,
                query_mode.select_text_batches(cap.conn, table, f"ORDER BY {quote_ident(column)}"),
                version=batch_id,
                position_column=WATERMARK,
                watermark_column=column,
                progress=cap.progress,
            )
            cap.note_snapshot(table.name, batch_id, rows, report)
            continue
        _query_table(cap, table, report, batch_id=batch_id, read_us=read_us, reconcile=reconcile)
    if reconcile:
        cap.reconciled_at = time.monotonic()
    marks = [w for t in cap.tables.values() if (w := cap.watermarks.get(t.name)) is not None]
    report.position = str(max(marks)) if marks else None
    if report.changes and report.kind != "snapshot":
        report.kind = "changes"


def _query_table(
    cap: _Capture, table: SourceTable, report: SyncReport, *, batch_id: int, read_us: int, reconcile: bool
) -> None:
    import pyarrow.compute as pc

    column = cap.source.watermark_column
    assert column is not None
    spark = cap.spark
    since = _watermark(cap, table)
    if since is not None and hasattr(since, "tzinfo"):
        since = since - query_mode.WATERMARK_OVERLAP
    candidates = query_mode.changed_since(cap.conn, table, column, since)
    silver = state.state_table(cap.settings, cap.name, table.name).read_spark(spark)
    columns = [c.name for c in table.columns]
    upserts_df = query_mode.classify_changes(spark.createDataFrame(candidates), silver, table.keys, columns)
    upserts = upserts_df.toArrow()
    deleted = pa.table({k: pa.array([], candidates.schema.field(k).type) for k in table.keys})
    if reconcile:
        keys = spark.createDataFrame(query_mode.source_keys(cap.conn, table))
        gone, extra = query_mode.key_differences(keys, silver, table.keys)
        deleted = gone.toArrow()
        landed = upserts_df.select(*[apply.col(k) for k in table.keys])
        extra_keys = extra.join(landed, list(table.keys), "left_anti").toArrow()
        if extra_keys.num_rows:
            late = query_mode.rows_by_key(cap.conn, table, extra_keys)
            late = late.append_column("_op", pa.array(["insert"] * late.num_rows, pa.string()))
            upserts = pa.concat_tables([upserts.cast(late.schema), late])
    if upserts.num_rows:
        upserts = upserts.sort_by([(column, "ascending")])
    rows = query_mode.query_log_table(
        table, upserts, deleted, watermark_column=column, batch_id=batch_id, read_us=read_us
    )
    if candidates.num_rows:
        newest = pc.max(candidates.column(column)).as_py()
        current = cap.watermarks.get(table.name)
        cap.watermarks[table.name] = newest if current is None or newest > current else current
    if not rows.num_rows:
        return
    # Checked against silver before the change log is appended, as a logical batch is: a batch silver cannot
    # take stops here with nothing landed, instead of leaving a change log that every later sync fails on.
    prepared = apply.prepare_batch(spark, cap.settings, cap.name, table.name, table.keys, rows)
    state.append_log(cap.settings, cap.name, table.name, rows, version=batch_id)
    crash_point("after_log")
    apply.apply_prepared(spark, cap.settings, cap.name, table.name, prepared, version=batch_id)
    crash_point("after_state")
    cap.positions[table.name] = TablePosition(batch_id, batch_id)
    ops: dict[str, int] = {}
    for op in rows.column("_op").to_pylist():
        ops[op] = ops.get(op, 0) + 1
    report.tables[table.name] = TableReport(rows.num_rows, ops)


# --- entry points ------------------------------------------------------------------------------------------


def _run_batch(cap: _Capture, *, refresh: bool, reconcile: bool, max_messages: int) -> SyncReport:
    report = SyncReport(source=cap.name, mode=cap.source.mode, batches=1)
    started = time.monotonic()
    if refresh or not cap.tables:
        cap.refresh(report)
    else:
        report.refused_tables = dict(cap.refused)
        report.dropped_tables = list(cap.dropped)
    if cap.source.mode == "logical":
        _logical_batch(cap, report, max_messages)
    else:
        _query_batch(cap, report, reconcile)
    report.duration_s = time.monotonic() - started
    return report


def _merge_into(total: SyncReport, batch: SyncReport) -> None:
    """Add one batch's report to a sync's running total (counts summed, position and lag from the latest)."""
    for name, t in batch.tables.items():
        into = total.tables.setdefault(name, TableReport())
        into.rows += t.rows
        for op, n in t.ops.items():
            into.ops[op] = into.ops.get(op, 0) + n
    total.snapshot_tables += [t for t in batch.snapshot_tables if t not in total.snapshot_tables]
    total.recovered_tables += [t for t in batch.recovered_tables if t not in total.recovered_tables]
    total.refused_tables = batch.refused_tables or total.refused_tables
    total.dropped_tables = batch.dropped_tables or total.dropped_tables
    # A long drain keeps the newest transactions' latencies only: its memory stays bounded by the batch size.
    total.latencies = (total.latencies + batch.latencies)[-MAX_LATENCIES:]
    total.batches += 1
    if batch.kind == "snapshot" or (batch.kind == "changes" and total.kind == "idle"):
        total.kind = batch.kind
    total.position, total.position_lsn = batch.position, batch.position_lsn
    total.lag_bytes, total.lag_seconds, total.drained = batch.lag_bytes, batch.lag_seconds, batch.drained


def _drain(
    cap: _Capture, max_messages: int, max_seconds: float, on_batch: Callable[[SyncReport], None] | None
) -> SyncReport:
    """Batches until the lake holds everything committed before the call, or until ``max_seconds`` passed."""
    started = time.monotonic()
    total = SyncReport(source=cap.name, mode=cap.source.mode)
    if cap.source.mode == "query":  # a query batch reads everything changed since the last: one is a drain
        batch = _run_batch(cap, refresh=True, reconcile=True, max_messages=max_messages)
        _merge_into(total, batch)
        total.duration_s = time.monotonic() - started
        if on_batch is not None:
            on_batch(total)
        return total
    # Every transaction committed before now ends at or before the insert position.
    target, _ = logical.wal_positions(cap.conn)
    total.target = format_lsn(target)
    while True:
        before = total.position_lsn
        batch = _run_batch(cap, refresh=total.batches == 0, reconcile=False, max_messages=max_messages)
        _merge_into(total, batch)
        total.duration_s = time.monotonic() - started
        done = batch.drained or (batch.position_lsn is not None and batch.position_lsn >= target)
        total.caught_up = done
        if on_batch is not None:
            on_batch(total)
        if done:
            return total
        if batch.kind != "snapshot" and batch.position_lsn == before:
            raise DataError(f"source {cap.name!r}: the replication slot handed nothing new; stopping the sync")
        if total.duration_s >= max_seconds:
            total.warning = (
                f"source {cap.name!r}: stopped after {total.duration_s:.0f} s (cdc.max_sync_seconds = {max_seconds:g}) "
                f"at {total.position}, {max(0, target - (total.position_lsn or 0)):,} bytes of WAL committed before "
                f"the sync started not captured yet (now {total.lag_bytes or 0:,} bytes, "
                f"{total.lag_seconds or 0:.0f} s behind the source)"
            )
            log.warning("%s", total.warning)
            return total


def sync_source(
    settings: Settings,
    source_name: str,
    *,
    progress: Progress | None = None,
    max_messages: int | None = None,
    max_seconds: float | None = None,
    on_batch: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Capture everything a source committed before this call, batch after batch (its snapshot the first time).

    Each batch holds at most ``max_messages`` pgoutput messages and lands exactly once; the sync stops when
    the lake holds every change committed before it started, or after ``max_seconds`` with ``caught_up``
    false and a ``warning`` naming the lag left. The outcome (or the error) is recorded for
    :func:`ingestion.cdc.status.source_status`.

    Parameters
    ----------
    settings
        Loaded settings; ``settings.sources[source_name]`` describes the source.
    source_name
        The source's name in ``radlake.yaml``.
    progress
        Called with one-line progress messages (never patient data).
    max_messages
        Logical mode: the most pgoutput messages one batch reads (whole transactions are always kept);
        default ``cdc.batch_messages``.
    max_seconds
        Time bound of the sync; default ``cdc.max_sync_seconds``.
    on_batch
        Called after every batch with the running total (batches, changes, position, lag).

    Returns
    -------
    SyncReport
        Tables, rows and operations landed over all batches, position, lag, refused and dropped tables.

    Raises
    ------
    ConfigError
        No such source.
    SourceUnreachableError
        The database cannot be reached, or a publication cannot be created.
    DataError
        A configured table cannot be captured (no primary key and no ``REPLICA IDENTITY FULL``), a value
        does not fit its type, or a batch cannot be applied to silver (nothing of it is appended).
    SyncBusyError
        Another process captures the same source.
    """
    from ingestion.cdc.status import record_sync

    with _source_lock(settings, source_name):
        cap = _Capture(settings, source_name, progress)
        try:
            report = _drain(
                cap,
                max_messages or settings.cdc.batch_messages,
                max_seconds if max_seconds is not None else settings.cdc.max_sync_seconds,
                on_batch,
            )
        except RadlakeError as err:
            record_sync(settings, source_name, error=str(err))
            raise
        finally:
            cap.close()
    record_sync(settings, source_name, report=report)
    return report


def stream_source(
    settings: Settings,
    source_name: str,
    stop_event: threading.Event,
    poll_interval: float = 0.2,
    *,
    progress: Progress | None = None,
    on_batch: Callable[[SyncReport], None] | None = None,
    max_messages: int | None = None,
    reconcile_interval: float = RECONCILE_INTERVAL_S,
) -> None:
    """Capture a source continuously until ``stop_event`` is set; the batch under way always finishes.

    Parameters
    ----------
    stop_event
        Set it (e.g. from a SIGTERM handler) to stop after the current batch.
    poll_interval
        Seconds to wait when the source has nothing new (sub-second by default).
    on_batch
        Called with every batch's report (idle ones included).
    reconcile_interval
        Query mode: seconds between key comparisons (which catch deletes).

    Raises
    ------
    RadlakeError
        As :func:`sync_source`; losing the database connection is retried with back-off instead.
    """
    import psycopg

    from ingestion.cdc.status import record_sync

    max_messages = max_messages or settings.cdc.batch_messages
    with _source_lock(settings, source_name):
        cap = _Capture(settings, source_name, progress)
        backoff = 1.0
        recorded_at = -RECORD_INTERVAL_S
        try:
            while not stop_event.is_set():
                try:
                    refresh = time.monotonic() - cap.refreshed_at >= REFRESH_INTERVAL_S
                    reconcile = time.monotonic() - cap.reconciled_at >= reconcile_interval
                    report = _run_batch(cap, refresh=refresh, reconcile=reconcile, max_messages=max_messages)
                    backoff = 1.0
                except (SourceUnreachableError, psycopg.OperationalError) as exc:
                    cap.progress(f"{source_name}: {str(exc).splitlines()[0]}; retrying in {backoff:.0f} s")
                    cap.reset()
                    stop_event.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                except RadlakeError as err:
                    record_sync(settings, source_name, error=str(err))
                    raise
                if on_batch is not None:
                    on_batch(report)
                if time.monotonic() - recorded_at >= RECORD_INTERVAL_S:  # clears a failure recorded before
                    record_sync(settings, source_name, report=report)
                    recorded_at = time.monotonic()
                if report.drained and report.kind != "snapshot":
                    stop_event.wait(poll_interval)
        finally:
            cap.close()
