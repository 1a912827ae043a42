"""PostgreSQL text output → faithful Arrow types."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from ingestion.cdc import types as t
from radlake.errors import DataError


def _typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | scale) + 4


def test_arrow_types_follow_the_postgres_types():
    assert t.arrow_type(t.INT2) == pa.int16()
    assert t.arrow_type(t.INT4) == pa.int32()
    assert t.arrow_type(t.INT8) == pa.int64()
    assert t.arrow_type(t.NUMERIC, _typmod(10, 2)) == pa.decimal128(10, 2)
    assert t.arrow_type(t.NUMERIC, -1) == pa.string()  # unconstrained: exact text
    assert t.arrow_type(t.NUMERIC, _typmod(50, 4)) == pa.string()  # wider than Delta's decimal
    assert t.arrow_type(t.TIMESTAMPTZ) == pa.timestamp("us", tz="UTC")
    assert t.arrow_type(t.TIMESTAMP) == pa.timestamp("us")
    assert t.arrow_type(t.DATE) == pa.date32()
    assert t.arrow_type(t.BOOL) == pa.bool_()
    assert t.arrow_type(t.JSONB) == pa.string()
    assert t.arrow_type(t.VARCHAR, 20) == pa.string()
    assert t.arrow_type(t.TIME) == pa.string()


def test_numeric_typmod_decodes_precision_and_scale():
    assert t.numeric_precision_scale(_typmod(10, 2)) == (10, 2)
    assert t.numeric_precision_scale(_typmod(38, 0)) == (38, 0)
    assert t.numeric_precision_scale(-1) is None


def test_text_values_convert_faithfully_with_nulls():
    where = "ris.x.c"
    assert t.to_arrow(["1", None, "-32768"], t.INT2, -1, where=where).to_pylist() == [1, None, -32768]
    assert t.to_arrow(["9223372036854775807"], t.INT8, -1, where=where).to_pylist() == [2**63 - 1]
    assert t.to_arrow(["1.50", "-0.01", None], t.NUMERIC, _typmod(10, 2), where=where).to_pylist() == [
        Decimal("1.50"),
        Decimal("-0.01"),
        None,
    ]
    assert t.to_arrow(["0.000000000000000001"], t.NUMERIC, -1, where=where).to_pylist() == ["0.000000000000000001"]
    assert t.to_arrow(["2024-03-01 02:00:00.5+00"], t.TIMESTAMPTZ, -1, where=where).to_pylist() == [
        datetime(2024, 3, 1, 2, 0, 0, 500000, tzinfo=UTC)
    ]
    assert t.to_arrow(["2024-03-01 10:00:00.000001"], t.TIMESTAMP, -1, where=where).to_pylist() == [
        datetime(2024, 3, 1, 10, 0, 0, 1)
    ]
    assert t.to_arrow(["2024-02-29", None], t.DATE, -1, where=where).to_pylist() == [date(2024, 2, 29), None]
    assert t.to_arrow(["t", "f", None], t.BOOL, -1, where=where).to_pylist() == [True, False, None]
    assert t.to_arrow(['{"名": "值"}'], t.JSONB, -1, where=where).to_pylist() == ['{"名": "值"}']
    assert t.to_arrow(["\\x00ff"], t.BYTEA, -1, where=where).to_pylist() == [b"\x00\xff"]
    assert t.to_arrow(["放射科", ""], t.TEXT, -1, where=where).to_pylist() == ["放射科", ""]


def test_values_the_lake_cannot_hold_are_refused_without_showing_them():
    with pytest.raises(DataError, match=r"ris\.x\.born: a value does not fit date32") as err:
        t.to_arrow(["infinity"], t.DATE, -1, where="ris.x.born")
    assert "infinity'" not in str(err.value).split(";")[0]
    with pytest.raises(DataError, match=r"ris\.x\.n"):
        t.to_arrow(["NaN"], t.NUMERIC, _typmod(10, 2), where="ris.x.n")
