"""PostgreSQL logical decoding: the publication and replication slot radlake owns, and reading changes from it.

radlake creates, per source, a publication and a logical replication slot (``pgoutput``) both named
``radlake_<source>``. Changes are *peeked* (``pg_logical_slot_peek_binary_changes``), landed in the lake, and
only then is the slot advanced (``pg_replication_slot_advance``): a crash in between replays the batch,
and the Delta app transactions make the replay a no-op.

Privileges: the user needs the ``REPLICATION`` attribute (or superuser) and ``SELECT`` on the tables. Creating
a publication ``FOR TABLES IN SCHEMA`` needs superuser; otherwise a DBA creates ``radlake_<source>`` once
(``CREATE PUBLICATION radlake_<source> FOR TABLE ...``) and radlake uses it as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingestion.cdc.source_tables import SourceTable, quote_ident
from ingestion.cdc.state import parse_lsn
from radlake.errors import DataError, SourceUnreachableError

if TYPE_CHECKING:
    import psycopg

    from radlake.config import SourceConfig

SLOT_PREFIX = "radlake_"


def slot_name(source: str) -> str:
    """The replication slot (and publication) of a source: ``radlake_<source>``."""
    return f"{SLOT_PREFIX}{source}"


@dataclass(frozen=True)
class SlotInfo:
    """A replication slot as ``pg_replication_slots`` shows it."""

    name: str
    database: str | None
    plugin: str | None
    confirmed_flush: int | None
    restart: int | None
    wal_status: str | None
    active: bool
    temporary: bool
    lost: bool


_SLOT_SQL = """
SELECT slot_name, database, plugin, confirmed_flush_lsn::text, restart_lsn::text, wal_status, active, temporary,
       (wal_status = 'lost') AS lost
  FROM pg_replication_slots
"""


def _slot(row: tuple) -> SlotInfo:
    name, database, plugin, confirmed, restart, wal_status, active, temporary, lost = row
    return SlotInfo(
        name=name,
        database=database,
        plugin=plugin,
        confirmed_flush=parse_lsn(confirmed) if confirmed else None,
        restart=parse_lsn(restart) if restart else None,
        wal_status=wal_status,
        active=bool(active),
        temporary=bool(temporary),
        lost=bool(lost),
    )


def slot_info(conn: psycopg.Connection, name: str) -> SlotInfo | None:
    """The slot called ``name``, or None."""
    row = conn.execute(_SLOT_SQL + " WHERE slot_name = %s", (name,)).fetchone()
    return None if row is None else _slot(row)


def radlake_slots(conn: psycopg.Connection) -> list[SlotInfo]:
    """All permanent slots named ``radlake_*`` on the server."""
    rows = conn.execute(_SLOT_SQL + " WHERE slot_name LIKE 'radlake\\_%%' AND NOT temporary").fetchall()
    return [_slot(r) for r in rows]


def drop_slot(conn: psycopg.Connection, name: str) -> None:
    """Drop a replication slot (one that was invalidated, before a new snapshot)."""
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def ensure_publication(conn: psycopg.Connection, source: str, schema: str, tables: list[SourceTable]) -> list[str]:
    """Create the source's publication if it is missing, and say which captured tables it does not cover.

    Returns
    -------
    list[str]
        Tables not in the publication (a DBA-made publication listing only some tables).

    Raises
    ------
    SourceUnreachableError
        The publication is missing and this user may not create it; the message gives the SQL for a DBA.
    """
    import psycopg

    name = slot_name(source)
    row = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    if row is None:
        try:
            conn.execute(f"CREATE PUBLICATION {quote_ident(name)} FOR TABLES IN SCHEMA {quote_ident(schema)}")
        except psycopg.errors.InsufficientPrivilege:
            listed = ", ".join(t.qualified for t in tables) or f"{schema}.<table>"
            raise SourceUnreachableError(
                f"source {source!r}: may not create publication {name}; ask a DBA to run: "
                f"CREATE PUBLICATION {name} FOR TABLE {listed}"
            ) from None
    covered = {
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s", (name, schema)
        )
    }
    return [t.name for t in tables if t.name not in covered]


@contextlib.contextmanager
def exported_snapshot(source: SourceConfig, source_name: str, *, temporary: bool) -> Iterator[tuple[int, str]]:
    """Create the source's slot (or a temporary one) and hold its exported snapshot open.

    ``CREATE_REPLICATION_SLOT ... LOGICAL pgoutput (SNAPSHOT 'export')`` on a ``replication=database``
    connection returns the slot's consistent point and the name of a transaction snapshot showing exactly
    the rows committed before it. The snapshot lives until this connection runs another command or closes.

    Yields
    ------
    tuple[int, str]
        The consistent point (LSN) and the snapshot name for ``SET TRANSACTION SNAPSHOT``.
    """
    from radlake.postgres import connect

    name = slot_name(source_name) + ("_snapshot" if temporary else "")
    conn = connect(source, source_name, autocommit=True, replication="database")
    try:
        kind = "TEMPORARY LOGICAL" if temporary else "LOGICAL"
        # Replication commands need the simple query protocol: go through libpq directly.
        result = conn.pgconn.exec_(f"CREATE_REPLICATION_SLOT {name} {kind} pgoutput (SNAPSHOT 'export')".encode())
        if result.status != 2:  # PGRES_TUPLES_OK
            message = (result.error_message or b"").decode(errors="replace").strip()
            hint = " (or capture it with mode: query)" if "wal_level" in message else ""
            raise DataError(f"source {source_name!r}: cannot create replication slot {name}: {message}{hint}")
        values = {(result.fname(i) or b"").decode(): result.get_value(0, i) or b"" for i in range(result.nfields)}
        yield parse_lsn(values["consistent_point"].decode()), values["snapshot_name"].decode()
    finally:
        conn.close()


def wal_positions(conn: psycopg.Connection) -> tuple[int, int]:
    """The server's WAL insert and flush positions (insert read first)."""
    row = conn.execute("SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text").fetchone()
    assert row is not None
    return parse_lsn(row[0]), parse_lsn(row[1])


def retained_wal_bytes(conn: psycopg.Connection, slot: str) -> int | None:
    """WAL the slot makes the server keep: ``pg_current_wal_lsn() - restart_lsn`` (None without a position)."""
    row = conn.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots "
        "WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    return None if row is None or row[0] is None else max(0, int(row[0]))


def peek_changes(conn: psycopg.Connection, slot: str, *, upto_lsn: int | None, max_messages: int) -> list[bytes]:
    """The pgoutput messages of the slot's pending transactions, without consuming them.

    Parameters
    ----------
    upto_lsn
        Stop at this WAL position (must be a record boundary that is already flushed), or None for all.
    max_messages
        Stop after the transaction during which this many messages were produced.
    """
    from ingestion.cdc.state import format_lsn

    sql = (
        "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, %s, "
        "'proto_version', '1', 'publication_names', %s)"
    )
    with conn.cursor(binary=True) as cur:
        cur.execute(sql, (slot, format_lsn(upto_lsn), max_messages, slot))
        return [row[0] for row in cur.fetchall()]


def advance_slot(conn: psycopg.Connection, slot: str, lsn: int) -> None:
    """Move the slot's confirmed position to ``lsn`` (after the lake holds everything before it)."""
    from ingestion.cdc.state import format_lsn

    conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, format_lsn(lsn)))


def pending_commit_time(conn: psycopg.Connection, slot: str) -> float | None:
    """Commit time (Unix seconds) of the oldest transaction the slot still holds for radlake, or None."""
    import struct

    from ingestion.cdc.pgoutput import PG_EPOCH_US

    messages = peek_changes(conn, slot, upto_lsn=None, max_messages=1)
    for message in messages:
        if message[:1] == b"B":
            (ts,) = struct.unpack_from("!q", message, 9)
            return (ts + PG_EPOCH_US) / 1e6
    return None
