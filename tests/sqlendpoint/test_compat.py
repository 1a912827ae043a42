"""The endpoint's pure parts: session commands, catalog rewrites, values as PostgreSQL writes them, passwords."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from sqlendpoint import compat, wire
from sqlendpoint.accounts import database_name, hash_password, sees_stewards_file, verify_password


def test_session_commands_answer_without_the_data() -> None:
    params: dict[str, str] = {}
    assert compat.session_command("SET DateStyle TO 'ISO'", params) == compat.Answer("SET")
    assert compat.session_command("SHOW datestyle", params) == compat.Answer("SHOW", "datestyle", "ISO")
    assert compat.session_command("show transaction isolation level", params).value == "repeatable read"
    assert compat.session_command("BEGIN", params).tag == "BEGIN"
    assert compat.session_command("rollback to savepoint sa_1", params).tag == "ROLLBACK"  # not the transaction
    assert compat.session_command("SAVEPOINT sa_1", params).tag == "SAVEPOINT"
    assert compat.session_command("select version()", params).value == compat.VERSION_TEXT
    assert compat.session_command("SHOW TABLES", params) is None  # DuckDB answers that one
    assert compat.session_command("select 1", params) is None


@pytest.mark.parametrize(
    "sql",
    [
        "select pg_catalog.pg_get_userbyid(c.relowner) from pg_catalog.pg_class c",
        "select c.relname from pg_class c where c.relname OPERATOR(pg_catalog.~) '^(x)$' COLLATE pg_catalog.default",
        "select pg_catalog.pg_get_serial_sequence(CAST(CAST(a.attrelid AS REGCLASS) AS TEXT), a.attname) "
        "from pg_attribute a",
        "select 1 from pg_class t join pg_index ix on t.oid = ix.indrelid "
        "left join pg_attribute a on t.oid = a.attrelid and a.attnum = ANY(ix.indkey)",
        "select t.oid from pg_type t where t.oid = to_regtype('hstore')",
    ],
)
def test_catalog_queries_clients_send_run_on_duckdb(sql: str) -> None:
    con = duckdb.connect()
    for macro in compat.SESSION_MACROS:
        con.execute(macro)
    with pytest.raises(duckdb.Error):
        con.execute(sql).fetchall()  # as sent, DuckDB refuses it
    con.execute(compat.rewrite(sql)).fetchall()


def test_format_type_gives_postgresqls_names() -> None:
    con = duckdb.connect()
    con.execute("create table t (a varchar, b bigint, c double)")
    for macro in compat.SESSION_MACROS:
        con.execute(macro)
    sql = "select pg_catalog.format_type(atttypid, atttypmod) from pg_attribute where attrelid = 't'::regclass"
    names = [r[0] for r in con.execute(compat.rewrite(sql)).fetchall()]
    assert names == ["text", "bigint", "double precision"]


def test_values_as_postgresql_text() -> None:
    assert wire.to_text(True) == "t"
    assert wire.to_text(float("nan")) == "NaN"
    assert wire.to_text(datetime(2024, 3, 4, 9, 5)) == "2024-03-04 09:05:00"
    assert wire.to_text(date(2024, 3, 4)) == "2024-03-04"
    assert wire.to_text(Decimal("1.50")) == "1.50"
    assert wire.to_text(["a b", None, "c"]) == '{"a b",NULL,c}'
    assert wire.to_text(timedelta(days=1, minutes=5)) == "1 days 00:05:00"
    assert wire.type_oid("DECIMAL(18,3)") == 1700 and wire.type_oid("VARCHAR[]") == 1009
    assert wire.decode_param(b"42", 23, False) == 42
    assert wire.decode_param((7).to_bytes(8, "big"), 20, True) == 7


def test_passwords_are_salted_hashes_and_spaces_map_to_files() -> None:
    stored = hash_password("s3cret")
    assert verify_password("s3cret", stored) and not verify_password("s3cre", stored)
    assert stored != hash_password("s3cret")  # salted
    assert not verify_password("s3cret", "md5$x")
    assert sees_stewards_file("stewards") and not sees_stewards_file("analysts")
    assert database_name("analysts") == "warehouse" and database_name("stewards") == "stewards_warehouse"
