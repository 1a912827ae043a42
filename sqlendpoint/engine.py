"""The published warehouse files as DuckDB databases the endpoint's sessions query, read-only and bounded.

One DuckDB database per published build, shared by every session (each session a cursor of it). A session
outside a transaction moves to the newest build before each statement; inside one it stays where it began,
so a transaction never mixes two builds. A build no session uses any more is closed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from radlake.config import Settings
from radlake.errors import LakeError
from radlake.publish import current_file
from radlake.warehouse import duckdb_settings
from sqlendpoint.compat import SESSION_MACROS


class QueryRefused(Exception):
    """A statement the endpoint does not run (a write, a second statement type): SQLSTATE and message."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class _Database:
    path: Path
    con: duckdb.DuckDBPyConnection
    users: int = 0


def _open(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {
        **duckdb_settings(),
        # No file, network or extension access from a query (read_csv('/etc/...'), COPY, ATTACH, INSTALL),
        # and clients cannot turn it back on.
        "enable_external_access": False,
        "autoload_known_extensions": False,
    }
    try:
        con = duckdb.connect(str(path), read_only=True, config=config)
        # Timestamps with a zone print in the hospitals' zone (ICU is built in); then nothing may change.
        con.execute("SET TimeZone = $1", [settings.timezone])
        con.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        raise LakeError(f"warehouse {path} cannot be opened: {exc}") from None
    return con


@dataclass
class Warehouses:
    """The current build of each warehouse file, opened once and shared by the sessions."""

    settings: Settings
    _open: dict[Path, _Database] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, stewards: bool) -> tuple[Path, duckdb.DuckDBPyConnection]:
        """The current build of a file and a new cursor on it (call :meth:`release` with the path when done)."""
        path = current_file(self.settings, stewards)
        if not path.exists():
            which = "stewards'" if stewards else "analysts'"
            raise LakeError(f"the {which} warehouse {path} is not built yet")
        with self._lock:
            db = self._open.get(path)
            if db is None:
                db = self._open[path] = _Database(path, _open(path, self.settings))
            db.users += 1
            cur = db.con.cursor()
        for sql in SESSION_MACROS:
            cur.execute(sql)
        return path, cur

    def release(self, path: Path) -> None:
        """A session stopped using ``path``; the last user of a superseded build closes it."""
        with self._lock:
            db = self._open.get(path)
            if db is None:
                return
            db.users -= 1
            if db.users <= 0 and not self._is_current(path):
                db.con.close()
                del self._open[path]

    def _is_current(self, path: Path) -> bool:
        return any(current_file(self.settings, s) == path for s in (False, True))

    def is_current(self, path: Path, stewards: bool) -> bool:
        """Whether ``path`` is still the published build of that file."""
        return current_file(self.settings, stewards) == path

    def close(self) -> None:
        with self._lock:
            for db in self._open.values():
                db.con.close()
            self._open.clear()


def statements(cur: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    """The statements of ``sql`` (DuckDB's parser), each with its type; raises QueryRefused on a syntax error."""
    try:
        return list(cur.extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryRefused("42601", str(exc).splitlines()[0]) from None


def check_read_only(statement: Any, allowed: frozenset[str]) -> None:
    """Refuse anything but a read (``42501``): the endpoint serves published marts, nothing else."""
    kind = statement.type.name
    if kind not in allowed:
        raise QueryRefused("42501", f"read-only endpoint: {kind} statements are not allowed")


def run(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None, max_rows: int) -> tuple[Any, list[Any]]:
    """Run one statement: its column description and at most ``max_rows`` rows.

    Raises
    ------
    QueryRefused
        ``54000`` when the result has more rows than ``max_rows`` (aggregate, or add LIMIT).
    duckdb.Error
        The query failed (or was interrupted by the statement timeout).
    """
    cur.execute(sql, params or None)
    description = cur.description or []
    if not description:
        return description, []
    rows: list[Any] = []
    while len(rows) <= max_rows:
        chunk = cur.fetchmany(min(8192, max_rows + 1 - len(rows)))
        if not chunk:
            break
        rows += chunk
    if len(rows) > max_rows:
        raise QueryRefused("54000", f"result has more than {max_rows} rows (sql.max_rows): aggregate it or add LIMIT")
    return description, rows
