"""Capture positions, kept only inside the Delta tables as app transactions (no state file that could disagree).

Each captured table has one app id, ``radlake-cdc:<source>:<table>``. Its version in

- the bronze change log is the last batch that landed there (the batch end LSN in logical mode, the batch
  number in query mode), written in the same commit as the batch's rows;
- the silver state table is the last batch applied there, written right after the MERGE.

A batch replayed after a crash is skipped by the log (its version is not above the recorded one) and re-applied
to silver only when silver's version is behind the log's; re-applying a batch's net effect is idempotent.
The replication slot (logical mode) is advanced only after both, so it is never ahead of the lake.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from ingestion.cdc.log import table_configuration
from radlake import catalog
from radlake.config import Settings
from radlake.errors import DataError
from radlake.lake import Lake, SchemaMismatchError, Table

CRASH_ENV = "RADLAKE_CDC_CRASH_AT"  # test hook: kill this process at a named point of a batch


def app_id(source: str, table: str) -> str:
    """The Delta app id that carries a table's capture position."""
    return f"radlake-cdc:{source}:{table}"


def log_table(settings: Settings, source: str, table: str) -> Table:
    """The change log of a source table (``<lake>/bronze/<source>__<table>``)."""
    return Lake(settings).cdc_log(source, table)


def state_table(settings: Settings, source: str, table: str, keys: Sequence[str] = ()) -> Table:
    """The current state of a source table (``<lake>/silver/<source>__<table>``), merged on ``keys``."""
    return Lake(settings).cdc_state(source, table, keys)


@dataclass(frozen=True)
class TablePosition:
    """How far one table has landed: in the change log, and in the current state."""

    log: int | None
    state: int | None

    @property
    def needs_snapshot(self) -> bool:
        """No snapshot has landed yet."""
        return self.log is None

    @property
    def state_behind(self) -> bool:
        """Silver misses batches the log holds (a crash between the two commits)."""
        return self.log is not None and (self.state is None or self.state < self.log)


def table_position(settings: Settings, source: str, table: str) -> TablePosition:
    """Read a table's positions from its two Delta tables."""
    aid = app_id(source, table)
    return TablePosition(
        log=log_table(settings, source, table).committed_version(aid),
        state=state_table(settings, source, table).committed_version(aid),
    )


def mark_state(settings: Settings, source: str, table: str, version: int) -> None:
    """Record in silver that the batch ``version`` is applied: a commit holding only the app transaction."""
    state_table(settings, source, table).mark_applied(app_id(source, table), version)


def append_log(
    settings: Settings, source: str, table: str, data: pa.Table | pa.RecordBatchReader, *, version: int
) -> bool:
    """Append rows to a table's change log in one commit carrying ``version``, unless that batch already landed.

    Returns
    -------
    bool
        False when the log already holds batch ``version`` (a replay after a crash): nothing was written.

    Raises
    ------
    DataError
        The rows' column types no longer match the change log's (a type changed at the source).
    """
    try:
        return log_table(settings, source, table).append(
            data,
            app_id=app_id(source, table),
            txn_version=version,
            configuration=table_configuration(data.schema) or None,
        )
    except SchemaMismatchError as exc:
        raise DataError(f"{source}.{table}: column types at the source no longer match the change log: {exc}") from None


def captured_tables(settings: Settings, source: str) -> set[str]:
    """Source tables that have a change log in the lake."""
    names = Lake(settings).table_names("bronze")
    return {t for n in names if (t := catalog.cdc_source_table(source, n)) is not None}


def format_lsn(lsn: int | None) -> str | None:
    """``0/1B4AFC8``: PostgreSQL's notation of an LSN."""
    return None if lsn is None else f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """The integer of an LSN in PostgreSQL's notation."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process here when ``$RADLAKE_CDC_CRASH_AT`` names this point.

    Points: ``after_log`` (change log committed, silver not), ``after_state`` (silver committed, slot not
    advanced), ``after_snapshot_log`` (a snapshot in the log, not in silver).
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
