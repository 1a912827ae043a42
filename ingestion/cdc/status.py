"""Where each source's capture stands: position, lag, retained WAL, the last sync; and slots left behind.

Every sync records its outcome in ``<state_dir>/cdc/<source>.json`` (:func:`record_sync`): when it ran,
whether it caught up with what was committed before it started (``caught_up``), the lag it left, or the error
that stopped it. ``radlake cdc status`` and the CDC sensor report a failed sync as a problem; the CDC asset
marks a run that did not catch up (``cdc/lagging``), and :func:`lagging_sources` tells a mart build or the
stewards' page which sources their data lags behind.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.cdc import logical
from ingestion.cdc.state import captured_tables, format_lsn, log_table, state_table
from ingestion.cdc.types import SESSION_SETTINGS
from radlake.config import Settings
from radlake.errors import SourceUnreachableError

if TYPE_CHECKING:
    import psycopg

    from ingestion.cdc.report import SyncReport


@dataclass(frozen=True)
class SourceStatus:
    """One line of ``radlake cdc status``.

    Attributes
    ----------
    source
        The source name; for an orphan slot, the name its slot was made for.
    kind
        ``source`` or ``orphan_slot`` (a ``radlake_*`` slot whose source is no longer configured: it makes the
        database keep WAL until it is dropped).
    position
        The slot's confirmed LSN (logical) or the newest watermark in the change logs (query).
    lag_bytes
        WAL written since the position (logical).
    lag_seconds
        Age of the oldest change not yet landed (0 when none; None when unknown).
    wal_retained_bytes
        WAL the slot makes the server keep.
    last_batch_at, since_last_batch_s
        When the last batch landed in the lake (newest commit among the source's tables).
    problem
        A one-line problem (unreachable, slot missing, orphan slot with the SQL to drop it), or None.
    reachable
        Whether radlake could connect to the source just now (``problem`` then says why not).
    pending
        Whether the slot holds a committed transaction radlake has not landed (logical; None when unknown,
        e.g. a stream holds the slot). WAL of other tables or databases moves ``lag_bytes`` but is not pending.
    """

    source: str
    kind: str = "source"
    mode: str | None = None
    tables: int = 0
    position: str | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    wal_retained_bytes: int | None = None
    last_batch_at: datetime | None = None
    since_last_batch_s: float | None = None
    problem: str | None = None
    reachable: bool = True
    pending: bool | None = None


def sync_record_path(settings: Settings, source: str) -> Path:
    """The JSON file holding the outcome of a source's last sync (``<state_dir>/cdc/<source>.json``)."""
    return settings.state_dir / "cdc" / f"{source}.json"


def record_sync(
    settings: Settings, source: str, *, report: SyncReport | None = None, error: str | None = None
) -> dict[str, Any]:
    """Record the outcome of a sync: its figures, or the one-line error that stopped it (written atomically).

    Returns
    -------
    dict
        What was written: ``source``, ``at`` (UTC, ISO 8601), ``ok``, ``error``, ``caught_up``, ``batches``,
        ``changes``, ``position``, ``target``, ``lag_bytes``, ``lag_seconds``, ``warning``.
    """
    record: dict[str, Any] = {
        "source": source,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ok": error is None,
        "error": error,
        "caught_up": bool(report.caught_up) if report is not None else False,
        "batches": report.batches if report is not None else 0,
        "changes": report.changes if report is not None else 0,
        "position": report.position if report is not None else None,
        "target": report.target if report is not None else None,
        "lag_bytes": report.lag_bytes if report is not None else None,
        "lag_seconds": report.lag_seconds if report is not None else None,
        "warning": report.warning if report is not None else None,
    }
    from radlake.private import state_folder

    state_folder(settings, "cdc")
    path = sync_record_path(settings, source)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return record


def last_sync(settings: Settings, source: str) -> dict[str, Any] | None:
    """The record of a source's last sync (see :func:`record_sync`), or None when none was recorded."""
    try:
        return json.loads(sync_record_path(settings, source).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def lagging_sources(settings: Settings) -> dict[str, str]:
    """Configured sources whose last sync did not land everything committed before it (or failed), and why.

    What a mart build or the stewards' page shows as "built on lagging data": a source absent from the result
    caught up at its last sync; a source never synced is not listed.
    """
    out: dict[str, str] = {}
    for name in settings.sources:
        record = last_sync(settings, name)
        if record is None:
            continue
        if record.get("error"):
            out[name] = f"last sync at {record.get('at')} failed: {record['error']}"
        elif not record.get("caught_up"):
            out[name] = record.get("warning") or f"last sync at {record.get('at')} did not catch up"
    return out


def _last_commit(settings: Settings, source: str, tables: set[str]) -> datetime | None:
    newest: int | None = None
    for table in tables:
        for handle in (log_table(settings, source, table), state_table(settings, source, table)):
            committed = handle.last_commit_ms()
            if committed is not None:
                newest = max(newest or 0, committed)
    return None if newest is None else datetime.fromtimestamp(newest / 1000, UTC)


def _newest_watermark(settings: Settings, source: str, tables: set[str]) -> str | None:
    """The newest ``_watermark`` in the change logs, from the Delta file statistics (no data read)."""
    best = None
    for table in tables:
        dt = log_table(settings, source, table).delta()
        if dt is None:
            continue
        actions = dt.get_add_actions(flatten=True)
        names = actions.schema.names if hasattr(actions, "schema") else []
        if "max._watermark" not in names:
            continue
        for value in actions.column("max._watermark").to_pylist():
            if value is not None and (best is None or value > best):
                best = value
    return None if best is None else str(best)


def _open(settings: Settings, name: str) -> psycopg.Connection:
    from radlake.postgres import connect

    conn = connect(settings.sources[name], name, autocommit=True)
    for setting, value in SESSION_SETTINGS:
        conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    return conn


def _server_key(conn: psycopg.Connection) -> tuple[str, str]:
    info = conn.info
    return (str(info.host), str(info.port))


def source_status(settings: Settings) -> list[SourceStatus]:
    """Report every configured source's capture status, then orphan ``radlake_*`` replication slots.

    Parameters
    ----------
    settings
        Loaded settings.

    Returns
    -------
    list[SourceStatus]
        One entry per configured source (unreachable ones carry ``problem``), then one per orphan slot found
        on the servers of the configured logical-mode sources.
    """
    import psycopg

    out: list[SourceStatus] = []
    servers: dict[tuple[str, str], str] = {}
    now = time.time()
    for name, source in settings.sources.items():
        tables = captured_tables(settings, name)
        last = _last_commit(settings, name, tables)
        since = None if last is None else max(0.0, now - last.timestamp())
        base = SourceStatus(name, mode=source.mode, tables=len(tables), last_batch_at=last, since_last_batch_s=since)
        record = last_sync(settings, name)
        failed = f"last sync failed at {record['at']}: {record['error']}" if record and record.get("error") else None
        try:
            conn = _open(settings, name)
        except SourceUnreachableError as exc:
            out.append(replace(base, problem=_join(str(exc), failed), reachable=False))
            continue
        with conn:
            if source.mode == "query":
                out.append(replace(base, position=_newest_watermark(settings, name, tables), problem=failed))
                continue
            servers.setdefault(_server_key(conn), name)
            slot = logical.slot_info(conn, logical.slot_name(name))
            if slot is None:
                if tables:
                    problem = f"replication slot {logical.slot_name(name)} is missing: the next sync re-snapshots"
                else:
                    problem = "nothing captured yet: run `radlake cdc sync` once"
                out.append(replace(base, problem=_join(problem, failed)))
                continue
            insert, _ = logical.wal_positions(conn)
            lag_bytes = None if slot.confirmed_flush is None else max(0, insert - slot.confirmed_flush)
            retained = logical.retained_wal_bytes(conn, slot.name)
            try:
                pending = logical.pending_commit_time(conn, slot.name)
                lag_seconds: float | None = 0.0 if pending is None else max(0.0, now - pending)
                has_pending: bool | None = pending is not None
            except psycopg.errors.ObjectInUse:
                lag_seconds = has_pending = None  # a stream holds the slot this instant
            out.append(
                replace(
                    base,
                    position=format_lsn(slot.confirmed_flush),
                    lag_bytes=lag_bytes,
                    lag_seconds=lag_seconds,
                    pending=has_pending,
                    wal_retained_bytes=retained,
                    problem=_join(
                        "slot lost WAL it needed: the next sync re-snapshots" if slot.lost else None,
                        failed,
                        _too_much_wal(settings, slot.name, retained),
                    ),
                )
            )
    out.extend(_orphans(settings, servers))
    return out


def _join(*problems: str | None) -> str | None:
    found = [p for p in problems if p]
    return "; ".join(found) if found else None


def _too_much_wal(settings: Settings, slot: str, retained: int | None) -> str | None:
    """A problem when a slot makes the server keep more WAL than ``cdc.max_retained_wal_bytes``."""
    limit = settings.cdc.max_retained_wal_bytes
    if retained is None or retained <= limit:
        return None
    return (
        f"slot {slot} keeps {retained:,} bytes of WAL on the server, above cdc.max_retained_wal_bytes "
        f"({limit:,}): sync the source (or fix what stops it); the server's max_slot_wal_keep_size bounds it"
    )


def _orphans(settings: Settings, servers: dict[tuple[str, str], str]) -> list[SourceStatus]:
    """``radlake_*`` slots on the sources' servers that no configured source owns."""
    owned = {logical.slot_name(n) for n in settings.sources}
    found: list[SourceStatus] = []
    for name in servers.values():
        with _open(settings, name) as conn:
            insert, _ = logical.wal_positions(conn)
            for slot in logical.radlake_slots(conn):
                if slot.name in owned:
                    continue
                retained = logical.retained_wal_bytes(conn, slot.name)
                found.append(
                    SourceStatus(
                        source=slot.name.removeprefix(logical.SLOT_PREFIX),
                        kind="orphan_slot",
                        mode="logical",
                        position=format_lsn(slot.confirmed_flush),
                        lag_bytes=None if slot.confirmed_flush is None else max(0, insert - slot.confirmed_flush),
                        wal_retained_bytes=retained,
                        problem=(
                            f"orphan replication slot {slot.name} in database {slot.database} keeps WAL; "
                            f"drop it with: SELECT pg_drop_replication_slot('{slot.name}')"
                        ),
                    )
                )
    return found
