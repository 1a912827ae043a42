"""``radlake sql serve`` checked by clients no one here wrote: Debian's psql, psycopg, SQLAlchemy's inspector.

The README's analyst queries give, through the endpoint, the rows DuckDB gives on the file itself; accounts
see their data space's file only; writes, file access, long and huge queries are refused; every statement
leaves an audit row in the lake; a session moves to a newly published build between statements.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from radlake import catalog, lake, publish
from tests.gold.dbt_cli import BuiltGold
from tests.gold.sql_server import RunningServer, publish_copy, self_signed, start
from tests.gold.test_readme_sql import _analyst_queries

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TIMEOUT_S = 2.0
MAX_ROWS = 500
SLOW_SQL = "select count(*) from range(100000000) a, range(100000000) b where a.range + b.range = -1"


@pytest.fixture(scope="module")
def endpoint(gold: BuiltGold, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("sql")
    cert, key = self_signed(root)
    settings = publish_copy(
        gold.settings,
        root,
        sql={
            "tls": {"cert": str(cert), "key": str(key)},
            "statement_timeout_seconds": TIMEOUT_S,
            "max_rows": MAX_ROWS,
            "audit_flush_seconds": 1,
        },
    ).model_copy(update={"lake": str(root / "lake")})
    running = start(settings)
    yield running
    running.stop()


def _dsn(ep: RunningServer, user: str = "ana", database: str = "warehouse", sslmode: str = "require") -> str:
    return f"host=127.0.0.1 port={ep.port} dbname={database} user={user} sslmode={sslmode}"


def _psycopg(ep: RunningServer, user: str = "ana", **kw: Any) -> psycopg.Connection:
    return psycopg.connect(_dsn(ep, user, **kw), password=ep.passwords[user], connect_timeout=10)


def _psql(
    ep: RunningServer, sql: str, user: str = "ana", database: str = "warehouse"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": ep.passwords[user], "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(
        ["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", _dsn(ep, user, database), "-c", sql],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _on_file(path: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_psql_and_psycopg_give_duckdbs_rows(endpoint: RunningServer, gold: BuiltGold) -> None:
    queries = _analyst_queries()
    with _psycopg(endpoint) as conn:
        for sql in queries:
            expected = _on_file(gold.settings.warehouse_path, sql)
            assert expected, sql  # the tiny lake answers every question
            # Rows tied in a query's ORDER BY may come in any order, on the file as through the endpoint.
            assert sorted(conn.execute(sql).fetchall(), key=repr) == sorted(expected, key=repr)
            # psql prints text: DuckDB's values as Python writes them (NULL as empty).
            run = _psql(endpoint, sql)
            assert run.returncode == 0, run.stderr
            text = ["\t".join("" if v is None else str(v) for v in row) for row in expected]
            assert sorted(run.stdout.splitlines()) == sorted(text)
        # Bound parameters (the extended protocol, psycopg's default): the same as DuckDB's own binding.
        sql = "select modality, sum(exam_count) from exam_volume_daily where institution = %s group by 1 order by 1"
        got = conn.execute(sql, ["h01"]).fetchall()
        assert got == _on_file(gold.settings.warehouse_path, sql.replace("%s", "?"), ["h01"])


def test_catalog_lists_schemas_tables_and_columns(endpoint: RunningServer, gold: BuiltGold) -> None:
    import sqlalchemy as sa

    marts = {r[0] for r in _on_file(gold.settings.warehouse_path, "select table_name from duckdb_tables()")}
    dsn = f"postgresql+psycopg://ana:{endpoint.passwords['ana']}@127.0.0.1:{endpoint.port}/warehouse?sslmode=require"
    engine = sa.create_engine(dsn, poolclass=sa.pool.NullPool)
    inspector = sa.inspect(engine)
    assert inspector.get_schema_names() == ["main"]
    assert set(inspector.get_table_names("main")) == marts
    columns = {c["name"]: c["type"] for c in inspector.get_columns("exam_volume_daily", "main")}
    assert set(columns) == {"exam_date", "institution", "modality", "exam_count", "busy_minutes", "folded"}
    assert isinstance(columns["exam_count"], sa.BigInteger) and isinstance(columns["institution"], sa.Text)
    engine.dispose()
    run = _psql(endpoint, r"\dt")
    assert run.returncode == 0, run.stderr
    assert {line.split("\t")[1] for line in run.stdout.splitlines()} == marts
    run = _psql(endpoint, "show server_version")
    assert run.stdout.strip() == "14.0"


def test_accounts_see_their_spaces_file(endpoint: RunningServer, gold: BuiltGold) -> None:
    breaches = _on_file(gold.settings.stewards_warehouse_path, "select count(*) from report_timeliness_breaches")
    with _psycopg(endpoint, "stew", database="stewards_warehouse") as conn:
        assert conn.execute("select count(*) from report_timeliness_breaches").fetchall() == breaches
    with _psycopg(endpoint) as conn, pytest.raises(psycopg.errors.Error, match="report_timeliness_breaches"):
        conn.execute("select count(*) from report_timeliness_breaches")
    with pytest.raises(psycopg.OperationalError, match="does not exist for this account"):
        _psycopg(endpoint, database="stewards_warehouse")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_dsn(endpoint), password="wrong", connect_timeout=10)
    with pytest.raises(psycopg.OperationalError, match="requires TLS"):
        psycopg.connect(_dsn(endpoint, sslmode="disable"), password=endpoint.passwords["ana"], connect_timeout=10)
    stored = endpoint.settings.sql_accounts_path.read_text(encoding="utf-8")
    assert endpoint.passwords["ana"] not in stored and "pbkdf2_sha256$" in stored
    assert oct(endpoint.settings.sql_accounts_path.stat().st_mode & 0o777) == "0o600"


def test_reads_only_within_limits(endpoint: RunningServer) -> None:
    with _psycopg(endpoint) as conn:
        conn.autocommit = True
        for sql, code in [
            ("create table x as select 1", "42501"),
            ("copy exam_volume_daily to '/tmp/leak.csv'", "42501"),
            ("attach '/tmp/other.duckdb' as o", "42501"),
            ("select * from read_csv('/etc/passwd')", "42000"),
            (f"select * from range({MAX_ROWS + 1})", "54000"),
        ]:
            with pytest.raises(psycopg.errors.Error) as err:
                conn.execute(sql)
            assert err.value.sqlstate == code, sql
        assert len(conn.execute(f"select * from range({MAX_ROWS})").fetchall()) == MAX_ROWS
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute(SLOW_SQL)
        assert time.monotonic() - started < TIMEOUT_S + 5
        assert conn.execute("select 1").fetchall() == [(1,)]  # the session goes on


def test_every_query_leaves_an_audit_row(endpoint: RunningServer) -> None:
    marker = f"select 'audit-{time.time_ns()}' as marker"
    with _psycopg(endpoint) as conn:
        conn.execute(marker).fetchall()
        with pytest.raises(psycopg.errors.Error):
            conn.execute("create table y(a int)")
    endpoint.server.audit.flush()
    rows = lake.read_arrow(endpoint.settings, catalog.uri(endpoint.settings, "audit", "sql_queries"))
    assert rows is not None
    by_statement = {r["statement"]: r for r in rows.to_pylist()}
    assert by_statement[marker]["account"] == "ana" and by_statement[marker]["status"] == "ok"
    assert by_statement[marker]["row_count"] == 1 and by_statement[marker]["database"] == "warehouse"
    assert by_statement["create table y(a int)"]["status"] == "refused"
    assert by_statement[SLOW_SQL]["status"] == "timeout"
    assert {r["status"] for r in rows.to_pylist()} <= set(catalog.schemas.SQL_QUERY_STATUSES)


def test_a_session_moves_to_a_new_build_between_statements(endpoint: RunningServer, tmp_path: Path) -> None:
    settings = endpoint.settings
    count = "select count(*) from exam_volume_daily"
    with _psycopg(endpoint) as in_txn, _psycopg(endpoint) as autocommit:
        autocommit.autocommit = True
        before = autocommit.execute(count).fetchone()
        assert in_txn.execute(count).fetchone() == before  # psycopg opened a transaction
        build = publish.begin_build(settings)
        with duckdb.connect(str(build.analysts)) as con:
            con.execute("delete from exam_volume_daily where institution = 'h02'")
            expected = con.execute(count).fetchone()
        publish.publish_build(settings, build)
        assert autocommit.execute(count).fetchone() == expected != before
        assert in_txn.execute(count).fetchone() == before  # the transaction stays on its build
        in_txn.commit()
        assert in_txn.execute(count).fetchone() == expected
