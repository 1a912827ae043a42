"""What a source database holds: its tables, their columns, types and row keys (from the PostgreSQL catalog)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingestion.cdc.log import reserved_column

if TYPE_CHECKING:
    import psycopg

REPLICA_IDENTITY = {"d": "default", "f": "full", "i": "index", "n": "nothing"}


@dataclass(frozen=True)
class SourceColumn:
    """One column of a source table."""

    name: str
    type_oid: int
    typmod: int
    type_name: str


@dataclass(frozen=True)
class SourceTable:
    """One capturable source table.

    Attributes
    ----------
    keys
        The columns that identify a row in silver: the primary key; the replica identity index when
        ``REPLICA IDENTITY USING INDEX``; all columns for ``REPLICA IDENTITY FULL`` without a primary key.
    replica_identity
        ``default``, ``full``, ``index`` or ``nothing``.
    """

    schema: str
    name: str
    oid: int
    columns: tuple[SourceColumn, ...]
    keys: tuple[str, ...]
    replica_identity: str
    has_primary_key: bool

    @property
    def qualified(self) -> str:
        """The quoted ``"schema"."table"`` for SQL."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def column(self, name: str) -> SourceColumn | None:
        """The column called ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class RefusedTable:
    """A table radlake will not capture, and why (shown to the user)."""

    name: str
    reason: str


def quote_ident(name: str) -> str:
    """Quote an SQL identifier the way PostgreSQL does."""
    return '"' + name.replace('"', '""') + '"'


_TABLES_SQL = """
SELECT c.oid::bigint, c.relname, c.relreplident,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisreplident) AS ident
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind = 'r' AND NOT c.relispartition
 ORDER BY c.relname
"""

# Generated columns are left out: pgoutput does not publish them, so a snapshot must not either.
_COLUMNS_SQL = """
SELECT a.attrelid::bigint, a.attname, a.atttypid::bigint, a.atttypmod, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a
 WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 ORDER BY a.attrelid, a.attnum
"""


def wanted(name: str, patterns: Sequence[str]) -> bool:
    """Whether a table name matches the configured ``tables`` list (names or shell patterns such as ``*``)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def discover_tables(
    conn: psycopg.Connection, schema: str, patterns: Sequence[str], *, mode: str = "logical"
) -> tuple[list[SourceTable], list[RefusedTable], list[str]]:
    """Read the catalog: the capturable tables of ``schema`` that match ``patterns``.

    Parameters
    ----------
    conn
        A connection to the source database.
    schema
        The source schema (``ris``).
    patterns
        Table names or shell patterns from the config.
    mode
        ``logical`` (rows are identified by the replica identity) or ``query`` (needs a primary key).

    Returns
    -------
    tables, refused, missing
        Capturable tables; tables refused with the reason; configured names (not patterns) that do not exist.
    """
    rows = conn.execute(_TABLES_SQL, (schema,)).fetchall()
    rows = [r for r in rows if wanted(r[1], patterns)]
    columns: dict[int, list[SourceColumn]] = {}
    if rows:
        for relid, name, oid, typmod, type_name in conn.execute(_COLUMNS_SQL, ([r[0] for r in rows],)):
            columns.setdefault(relid, []).append(SourceColumn(name, int(oid), int(typmod), type_name))
    tables: list[SourceTable] = []
    refused: list[RefusedTable] = []
    for relid, name, ident_code, pk, ident in rows:
        ident_code = ident_code.decode() if isinstance(ident_code, bytes) else ident_code
        cols = tuple(columns.get(relid, ()))
        identity = REPLICA_IDENTITY.get(ident_code, ident_code)
        reason, keys = _keys(name, schema, identity, tuple(pk or ()), tuple(ident or ()), cols, mode)
        clash = next((c.name for c in cols if reserved_column(c.name)), None)
        if clash and not reason:
            reason = f"column {clash!r} clashes with radlake's change-log columns (names starting with _op, _lsn, ...)"
        if reason:
            refused.append(RefusedTable(name, reason))
            continue
        tables.append(SourceTable(schema, name, int(relid), cols, keys, identity, bool(pk)))
    present = {r[1] for r in rows}
    missing = [p for p in patterns if not any(ch in p for ch in "*?[") and p not in present]
    return tables, refused, missing


def _keys(
    name: str,
    schema: str,
    identity: str,
    pk: tuple[str, ...],
    ident: tuple[str, ...],
    cols: tuple[SourceColumn, ...],
    mode: str,
) -> tuple[str | None, tuple[str, ...]]:
    """The row keys of a table, or the reason it cannot be captured."""
    target = f"{schema}.{name}"
    if mode == "query":
        if not pk:
            return f"{target} has no primary key: query mode needs one to find updates and deletes", ()
        return None, pk
    if identity == "nothing":
        return (
            f"{target} has REPLICA IDENTITY NOTHING: its updates and deletes cannot be captured; "
            f"run ALTER TABLE {target} REPLICA IDENTITY DEFAULT (with a primary key) or FULL",
            (),
        )
    if identity == "index" and ident:
        return None, ident
    if pk:
        return None, pk
    if identity == "full":
        return None, tuple(c.name for c in cols)
    return (
        f"{target} has no primary key: add one, or run ALTER TABLE {target} REPLICA IDENTITY FULL "
        "(rows are then identified by all their columns)",
        (),
    )
