"""What PostgreSQL clients and BI tools send besides queries, answered the way they expect.

DuckDB already has ``pg_catalog`` and ``information_schema`` views over its own catalog, so schema, table
and column listings run on DuckDB itself. This module covers the rest: session commands (``SET``,
``SHOW``, ``BEGIN``/``COMMIT``, ``DISCARD``, ``DEALLOCATE``) answered without touching the data; a few
catalog functions DuckDB lacks, rewritten to constants; and which statements may run at all (only reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVER_VERSION = "14.0"
"""The PostgreSQL version announced: old enough that clients use catalog queries DuckDB can answer."""

VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} (radlake SQL endpoint, read-only, on DuckDB)"

# Announced at startup and answered by SHOW: what drivers look at (psycopg, libpq, SQLAlchemy, JDBC).
SERVER_PARAMETERS = {
    "server_version": SERVER_VERSION,
    "server_version_num": "140000",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "is_superuser": "off",
    "transaction_read_only": "on",
    "default_transaction_read_only": "on",
    "transaction isolation level": "repeatable read",
    "max_identifier_length": "63",
    "search_path": "main",
}


@dataclass(frozen=True)
class Answer:
    """A session command's reply: a command tag, or one text row under one column."""

    tag: str
    column: str | None = None
    value: str | None = None


_SET = re.compile(r"^\s*set\s+(?:session\s+|local\s+)?(?:time\s+zone\s+|(?P<name>[\w.]+)\s*(?:=|to)\s*)", re.I)
_SHOW = re.compile(r"^\s*show\s+(?P<name>[\w. ]+?)\s*;?\s*$", re.I)
_TXN = re.compile(r"^\s*(begin|start\s+transaction|commit|end|rollback|abort)\b", re.I)
_NOOP = re.compile(r"^\s*(discard\s+all|deallocate\b|reset\b|close\s+all|unlisten\b)", re.I)
# Savepoints (SQLAlchemy's nested transactions): a read-only session has nothing to undo.
_SAVEPOINT = re.compile(r"^\s*(savepoint|release|rollback\s+to)\b", re.I)
_VERSION = re.compile(r"^\s*select\s+(pg_catalog\.)?version\s*\(\s*\)\s*;?\s*$", re.I)
_SHOW_TABLES = re.compile(r"^\s*(show\s+tables|show\s+all\s+tables|describe\b|summarize\b)", re.I)


def session_command(sql: str, params: dict[str, str]) -> Answer | None:
    """The reply to a session command (and the session's settings updated), or None for anything else."""
    text = sql.strip().rstrip(";").strip()
    match = _SAVEPOINT.match(text)
    if match:
        return Answer(match.group(1).split()[0].upper())
    match = _TXN.match(text)
    if match:
        word = match.group(1).lower().split()[0]
        tag = {"start": "BEGIN", "end": "COMMIT", "abort": "ROLLBACK"}.get(word, word.upper())
        return Answer(tag)
    if _NOOP.match(text):
        return Answer(text.split()[0].upper() + (" ALL" if text.lower().startswith("discard") else ""))
    match = _SET.match(text)
    if match:
        name = (match.group("name") or "timezone").lower()
        value = text[match.end() :].strip().strip("'\"")
        # Kept for SHOW; none changes what may be read or how long it may run (the server's limits hold).
        params[name] = value
        return Answer("SET")
    match = _SHOW.match(text)
    if match and not _SHOW_TABLES.match(text):
        name = match.group("name").strip()
        wanted = {k.lower(): v for k, v in {**SERVER_PARAMETERS, **params}.items()}
        value = wanted.get(name.lower(), "")
        return Answer("SHOW", column=name.split()[-1], value=value)
    if _VERSION.match(text):
        return Answer("SELECT 1", column="version", value=VERSION_TEXT)
    return None


# Catalog functions clients call that DuckDB lacks, as constants of a read-only database with one owner
# (their arguments, which may hold parentheses, are dropped whole).
_CONSTANT_CALLS = {
    "pg_get_userbyid": "'radlake'",
    "pg_encoding_to_char": "'UTF8'",
    "pg_get_serial_sequence": "NULL",
    "pg_get_statisticsobjdef_columns": "NULL",
    "pg_relation_is_publishable": "false",
    "pg_collation_is_visible": "true",
    "version": f"'{VERSION_TEXT}'",
}
_CALL = re.compile(r"(?:\bpg_catalog\.)?\b(" + "|".join(_CONSTANT_CALLS) + r")\s*\(", re.I)

_REWRITES = [
    (re.compile(r"(?:pg_catalog\.)?current_setting\s*\(\s*'server_version_num'\s*\)", re.I), "'140000'"),
    (re.compile(r"(?:pg_catalog\.)?current_setting\s*\(\s*'server_version'\s*\)", re.I), f"'{SERVER_VERSION}'"),
    (re.compile(r"\bpg_catalog\.format_type\s*\(", re.I), "radlake_format_type("),
    (re.compile(r"\bjson_build_object\s*\(", re.I), "json_object("),
    (re.compile(r"(?:\bpg_catalog\.)?\b(pg_collation|pg_inherits|pg_index)\b(?!\s*\()", re.I), r"radlake_\1"),
    # No extension types here; the argument stays (it may be a bound parameter).
    (re.compile(r"(?:pg_catalog\.)?to_regtype\s*\(([^()]*)\)", re.I), r"(CASE WHEN (\1) IS NULL THEN NULL END)"),
    # x = ANY(t.list_column): DuckDB reads ANY(...) as a subquery, which a join condition cannot hold.
    (re.compile(r"([\w.]+)\s*=\s*ANY\s*\(\s*(\w+\.\w+)\s*\)", re.I), r"list_contains(\2, \1)"),
    (re.compile(r"OPERATOR\s*\(\s*pg_catalog\.([^)\s]+)\s*\)", re.I), r"\1"),
    (re.compile(r"\s+COLLATE\s+pg_catalog\.\w+", re.I), ""),
    (re.compile(r"::(?:pg_catalog\.)?(?:regclass|regtype)\b", re.I), "::oid"),
    (re.compile(r"\bAS\s+(?:pg_catalog\.)?(?:regclass|regtype)\b", re.I), "AS oid"),
    (re.compile(r"::pg_catalog\.(text|int2|int4|int8|bool|oid|name|char)\b", re.I), r"::\1"),
]


def _replace_calls(sql: str) -> str:
    """Replace each call of :data:`_CONSTANT_CALLS` (up to its balanced closing parenthesis) by its constant."""
    out, pos = [], 0
    for match in _CALL.finditer(sql):
        if match.start() < pos:
            continue  # inside an argument already replaced
        depth, end = 1, match.end()
        while end < len(sql) and depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        out += [sql[pos : match.start()], _CONSTANT_CALLS[match.group(1).lower()]]
        pos = end
    return "".join(out) + sql[pos:]


# PostgreSQL's names of DuckDB's types, as format_type() gives them to clients (SQLAlchemy maps these names).
_PG_TYPE_NAMES = {
    "varchar": "text",
    "int8": "bigint",
    "int4": "integer",
    "int2": "smallint",
    "float8": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
}

# Catalog tables DuckDB lacks, as empty views of their columns clients read (no collations, no inheritance).
_EMPTY_TABLES = {
    "pg_collation": "0::INTEGER AS oid, ''::VARCHAR AS collname, 0::INTEGER AS collnamespace",
    "pg_inherits": "0::INTEGER AS inhrelid, 0::INTEGER AS inhparent, 0::INTEGER AS inhseqno",
    # The marts have no index (no primary or unique key either): an empty pg_index is the truth.
    "pg_index": (
        "0::INTEGER AS indexrelid, 0::INTEGER AS indrelid, 0::INTEGER AS indnatts, 0::INTEGER AS indnkeyatts, "
        "false AS indisunique, false AS indisprimary, false AS indisexclusion, false AS indimmediate, "
        "false AS indisclustered, true AS indisvalid, false AS indisreplident, []::INTEGER[] AS indkey, "
        "[]::INTEGER[] AS indoption, NULL::VARCHAR AS indexprs, NULL::VARCHAR AS indpred"
    ),
}

SESSION_MACROS = (
    "CREATE OR REPLACE TEMP MACRO radlake_format_type(t, m) AS CASE format_type(t, m) "
    + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _PG_TYPE_NAMES.items())
    + " ELSE format_type(t, m) END",
    *(
        f"CREATE OR REPLACE TEMP VIEW radlake_{name} AS SELECT {cols} WHERE false"
        for name, cols in _EMPTY_TABLES.items()
    ),
)
"""Run on each session's DuckDB connection: catalog functions whose answers differ from DuckDB's own."""


_REGCLASS_LITERAL = re.compile(r"'([^']*)'::(?:pg_catalog\.)?regclass\b", re.I)


def _regclass_literal(match: re.Match[str]) -> str:
    # '16385'::regclass is an oid already; 'exam_volume_daily'::regclass names a table.
    name = match.group(1)
    if name.isdigit():
        return name
    return f"(SELECT oid FROM pg_catalog.pg_class WHERE relname = '{name.split('.')[-1].strip(chr(34))}' LIMIT 1)"


def rewrite(sql: str) -> str:
    """``sql`` with the catalog functions DuckDB lacks replaced (only touched when it reads the catalog)."""
    lowered = sql.lower()
    if not any(word in lowered for word in ("pg_", "version", "information_schema", "regtype", "regclass")):
        return sql
    sql = _REGCLASS_LITERAL.sub(_regclass_literal, _replace_calls(sql))
    for pattern, replacement in _REWRITES:
        sql = pattern.sub(replacement, sql)
    return sql


ALLOWED_TYPES = frozenset({"SELECT", "EXPLAIN"})
"""DuckDB statement types a client may run: reads only (the file is read-only too, and external access off)."""
