"""PostgreSQL's frontend/backend protocol (version 3): framing of messages, type OIDs, values as text.

Only what a read-only endpoint needs: startup, cleartext password over TLS, simple and extended queries
(Parse, Bind, Describe, Execute, Close, Sync, Flush), errors and notices. Results are always sent in text
format, which every client accepts; parameters arrive in text or, for numbers and booleans, binary.
"""

from __future__ import annotations

import json
import math
import struct
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

# DuckDB type names (their first word) -> PostgreSQL type OIDs, as clients decode them.
_OIDS = {
    "BOOLEAN": 16,
    "TINYINT": 21,
    "SMALLINT": 21,
    "UTINYINT": 21,
    "INTEGER": 23,
    "USMALLINT": 23,
    "BIGINT": 20,
    "UINTEGER": 20,
    "UBIGINT": 1700,
    "HUGEINT": 1700,
    "UHUGEINT": 1700,
    "FLOAT": 700,
    "DOUBLE": 701,
    "DECIMAL": 1700,
    "VARCHAR": 25,
    "DATE": 1082,
    "TIME": 1083,
    "TIMESTAMP": 1114,
    "TIMESTAMP_NS": 1114,
    "TIMESTAMP_MS": 1114,
    "TIMESTAMP_S": 1114,
    "TIMESTAMP WITH TIME ZONE": 1184,
    "INTERVAL": 1186,
    "UUID": 2950,
    "BLOB": 17,
    "JSON": 114,
}
TEXT_OID = 25
_ARRAY_OIDS = {25: 1009, 23: 1007, 20: 1016, 21: 1005, 701: 1022, 700: 1021, 16: 1000, 1082: 1182, 1700: 1231}


def type_oid(duckdb_type: str) -> int:
    """The PostgreSQL OID a client should decode a DuckDB column type as (text for anything unusual)."""
    name = duckdb_type.upper()
    if name.endswith("[]"):
        return _ARRAY_OIDS.get(type_oid(name[:-2]), 1009)
    if name in _OIDS:
        return _OIDS[name]
    return _OIDS.get(name.split("(")[0], TEXT_OID)


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    text = to_text(value)
    if text == "" or any(c in text for c in ' ,{}"\\') or text.upper() == "NULL":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _interval(value: timedelta) -> str:
    days, seconds = value.days, value.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}" + (f".{value.microseconds:06d}" if value.microseconds else "")
    return f"{days} days {clock}" if days else clock


def to_text(value: Any) -> str:
    """One value as PostgreSQL's text output writes it (``t``/``f``, ISO dates, ``{a,b}`` arrays)."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time, Decimal, int)):
        return str(value)
    if isinstance(value, timedelta):
        return _interval(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(_array_item(v) for v in value) + "}"
    if isinstance(value, dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def message(kind: bytes, body: bytes = b"") -> bytes:
    """A backend message: its type byte, its length (itself included) and its body."""
    return kind + struct.pack("!I", len(body) + 4) + body


def cstr(text: str) -> bytes:
    """A NUL-terminated UTF-8 string."""
    return text.encode("utf-8") + b"\0"


def read_cstr(data: bytes, pos: int) -> tuple[str, int]:
    """The NUL-terminated string at ``pos`` and the position after it."""
    end = data.index(b"\0", pos)
    return data[pos:end].decode("utf-8", errors="replace"), end + 1


def auth_ok() -> bytes:
    return message(b"R", struct.pack("!I", 0))


def auth_cleartext() -> bytes:
    return message(b"R", struct.pack("!I", 3))


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstr(name) + cstr(value))


def backend_key(pid: int, secret: int) -> bytes:
    return message(b"K", struct.pack("!II", pid, secret))


def ready(status: str) -> bytes:
    """ReadyForQuery: ``I`` idle, ``T`` in a transaction, ``E`` in a failed one."""
    return message(b"Z", status.encode("ascii"))


def row_description(columns: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", len(columns))
    for name, oid in columns:
        body += cstr(name) + struct.pack("!IhIhih", 0, 0, oid, -1, -1, 0)
    return message(b"T", body)


def data_row(values: tuple[Any, ...]) -> bytes:
    parts = [struct.pack("!H", len(values))]
    for value in values:
        if value is None:
            parts.append(struct.pack("!i", -1))
        else:
            raw = to_text(value).encode("utf-8")
            parts.append(struct.pack("!I", len(raw)) + raw)
    return message(b"D", b"".join(parts))


def command_complete(tag: str) -> bytes:
    return message(b"C", cstr(tag))


def empty_query() -> bytes:
    return message(b"I")


def no_data() -> bytes:
    return message(b"n")


def parse_complete() -> bytes:
    return message(b"1")


def bind_complete() -> bytes:
    return message(b"2")


def close_complete() -> bytes:
    return message(b"3")


def parameter_description(oids: list[int]) -> bytes:
    return message(b"t", struct.pack("!H", len(oids)) + b"".join(struct.pack("!I", o) for o in oids))


def _fields(severity: str, code: str, text: str) -> bytes:
    body = b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(code) + b"M" + cstr(text)
    return body + b"\0"


def error(code: str, text: str, severity: str = "ERROR") -> bytes:
    """ErrorResponse with an SQLSTATE ``code`` (``42501`` refused, ``57014`` cancelled, ``54000`` too large)."""
    return message(b"E", _fields(severity, code, text))


def notice(text: str) -> bytes:
    return message(b"N", _fields("NOTICE", "00000", text))


def decode_param(raw: bytes | None, oid: int, binary: bool) -> Any:
    """A bound parameter as a Python value DuckDB binds with the intended type.

    Text parameters of numeric, boolean and date types are converted (DuckDB does not compare INTEGER with a
    VARCHAR parameter); binary ones are accepted for integers, floats and booleans, as drivers send them.
    """
    if raw is None:
        return None
    if binary:
        if oid in (20, 21, 23):
            return int.from_bytes(raw, "big", signed=True)
        if oid == 700:
            return struct.unpack("!f", raw)[0]
        if oid == 701:
            return struct.unpack("!d", raw)[0]
        if oid == 16:
            return raw != b"\0"
        return raw.decode("utf-8")
    text = raw.decode("utf-8")
    if oid in (20, 21, 23):
        return int(text)
    if oid in (700, 701):
        return float(text)
    if oid == 1700:
        return Decimal(text)
    if oid == 16:
        return text.lower() in ("t", "true", "1", "y", "yes", "on")
    if oid == 1082:
        return date.fromisoformat(text)
    return text
