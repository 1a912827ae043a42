"""PostgreSQL column types → Arrow/Delta types, and the conversion of PostgreSQL's text output into Arrow.

Every capture path (the snapshot's ``COPY``, pgoutput's tuples and query mode's plain ``SELECT``) receives values
in PostgreSQL's text output form, produced in a session set up by :data:`SESSION_SETTINGS` (UTC, ISO dates).
One conversion, here, turns them into typed Arrow arrays, so a value looks the same whichever path brought it.

Mapping (faithful where Delta has the type, the exact text otherwise):

=====================================  ==========================================================
PostgreSQL                             Arrow / Delta
=====================================  ==========================================================
smallint / integer / bigint / oid      int16 / int32 / int64 / int64
numeric(p, s), p <= 38                 decimal128(p, s)
numeric without typmod, or p > 38      string: the exact decimal text (a decimal(38, 10) would
                                       round silently; cast downstream when the scale is known)
real / double precision                float32 / float64
text, varchar(n), char(n), name, uuid  string (char(n) keeps PostgreSQL's padding)
timestamp with time zone               timestamp[us, UTC]
timestamp without time zone            timestamp[us] (Delta ``timestamp_ntz``)
date                                   date32
boolean                                bool
json / jsonb                           string holding the JSON text as PostgreSQL prints it
bytea                                  binary
anything else (time, interval, arrays, string: PostgreSQL's text form
enums, ranges, ...)
=====================================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from radlake.errors import DataError

# PostgreSQL type OIDs (fixed in pg_type.dat; they never change between versions).
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, FLOAT4, FLOAT8, BPCHAR, VARCHAR = 114, 700, 701, 1042, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, NUMERIC, UUID, JSONB = 1082, 1083, 1114, 1184, 1700, 2950, 3802

# Set on every connection radlake reads a source through: the text output of dates and times depends on them.
SESSION_SETTINGS: tuple[tuple[str, str], ...] = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "iso_8601"),
    ("extra_float_digits", "1"),
    ("client_encoding", "UTF8"),
    ("bytea_output", "hex"),
)

MAX_DECIMAL_PRECISION = 38  # Delta's (and Spark's) widest decimal

_FIXED: dict[int, pa.DataType] = {
    BOOL: pa.bool_(),
    INT2: pa.int16(),
    INT4: pa.int32(),
    INT8: pa.int64(),
    OID: pa.int64(),
    FLOAT4: pa.float32(),
    FLOAT8: pa.float64(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us"),
    TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    BYTEA: pa.binary(),
}

# OIDs whose values query mode must receive as text (psycopg would otherwise build Python objects).
TEXT_LOADED_OIDS: tuple[int, ...] = (
    BOOL, BYTEA, INT2, INT4, INT8, OID, FLOAT4, FLOAT8, DATE, TIME, TIMESTAMP, TIMESTAMPTZ, NUMERIC, JSON, JSONB,
    UUID, 1186, 1266,
)  # fmt: skip


def numeric_precision_scale(typmod: int) -> tuple[int, int] | None:
    """``(precision, scale)`` of a ``numeric`` column from its typmod, or None when unconstrained."""
    if typmod < 4:
        return None
    packed = typmod - 4  # PostgreSQL stores ((precision << 16) | scale) + VARHDRSZ
    precision, scale = (packed >> 16) & 0xFFFF, packed & 0x7FF
    if scale > 1000:  # negative scales (PostgreSQL 15+) are stored as 11-bit two's complement
        scale -= 2048
    return precision, scale


def arrow_type(type_oid: int, typmod: int = -1) -> pa.DataType:
    """The Arrow (and so Delta) type that holds a PostgreSQL column faithfully.

    Parameters
    ----------
    type_oid
        ``pg_attribute.atttypid`` (or the type OID of a pgoutput Relation message).
    typmod
        ``pg_attribute.atttypmod``; it carries the precision and scale of ``numeric``.

    Returns
    -------
    pyarrow.DataType
        See the module docstring for the mapping.
    """
    if type_oid in _FIXED:
        return _FIXED[type_oid]
    if type_oid == NUMERIC:
        ps = numeric_precision_scale(typmod)
        if ps is not None and 0 < ps[0] <= MAX_DECIMAL_PRECISION and 0 <= ps[1] <= ps[0]:
            return pa.decimal128(*ps)
        return pa.string()
    return pa.string()


def to_arrow(values: Sequence[str | None] | pa.Array, type_oid: int, typmod: int, *, where: str) -> pa.Array:
    """Convert PostgreSQL text output values into an Arrow array of :func:`arrow_type`.

    Parameters
    ----------
    values
        Text values (None for SQL NULL), or an Arrow string array of them.
    type_oid, typmod
        The column's type.
    where
        ``schema.table.column`` for the error message.

    Returns
    -------
    pyarrow.Array

    Raises
    ------
    DataError
        A value the type cannot hold (``infinity`` dates, ``NaN`` numerics, out-of-range years); the message
        names the column and the kind of problem, never the value (it may be patient data).
    """
    target = arrow_type(type_oid, typmod)
    text = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if text.type != pa.string():
        text = text.cast(pa.string())
    if pa.types.is_string(target):
        return text
    try:
        if pa.types.is_boolean(target):
            return pc.equal(text, "t")
        if pa.types.is_binary(target):
            return _bytea(text)
        # Years beyond 9999, BC dates and 'infinity' are printed in forms Arrow rejects: they raise below.
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).split(":")[0]
        raise DataError(
            f"{where}: a value does not fit {target} ({reason}); PostgreSQL special values such as "
            "'infinity' or 'NaN' cannot be stored in the lake"
        ) from None


def _bytea(text: pa.Array) -> pa.Array:
    """PostgreSQL's hex bytea output (``\\x0a1b``) → binary."""
    out: list[bytes | None] = []
    for value in text.to_pylist():
        if value is None:
            out.append(None)
        elif value.startswith("\\x"):
            out.append(bytes.fromhex(value[2:]))
        else:
            raise pa.ArrowInvalid("bytea not in hex output format")
    return pa.array(out, type=pa.binary())
