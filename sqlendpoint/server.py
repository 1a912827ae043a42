"""``radlake sql serve``: PostgreSQL's wire protocol on asyncio, over the published warehouse files.

Each client is a session: TLS (required when ``sql.tls`` is set), a password checked against the accounts
file, the database of the account's data space, then simple and extended queries. Statements run on a
thread pool, each bounded by ``sql.statement_timeout_seconds`` (DuckDB's interrupt) and ``sql.max_rows``;
every one leaves an audit row. Catalog queries run on DuckDB's own ``pg_catalog`` and ``information_schema``
(:mod:`sqlendpoint.compat` answers session commands and fills the gaps).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import ssl
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from radlake.config import Settings
from radlake.errors import ConfigError, LakeError
from sqlendpoint import compat, wire
from sqlendpoint.accounts import Account, database_name, load_accounts, sees_stewards_file, verify_password
from sqlendpoint.audit import QueryAudit, QueryRecord
from sqlendpoint.engine import QueryRefused, Warehouses, check_read_only, run, statements

log = logging.getLogger("radlake.sql")

MAX_MESSAGE_BYTES = 16 << 20
"""A client message larger than this closes the connection (no query text is that long)."""


class ProtocolError(QueryRefused):
    """The client broke the protocol (or failed to log in); the connection is closed after the message."""


@dataclass
class Result:
    """One statement's reply, already encoded: row description (or None), data rows, command tag."""

    description: bytes | None
    rows: list[bytes]
    tag: str
    row_count: int = 0


@dataclass
class Portal:
    sql: str
    params: list[Any]
    result: Result | None = None


@dataclass
class Prepared:
    sql: str
    oids: list[int]


@dataclass
class Session:
    """One client connection's state."""

    account: Account
    database: str
    client: str
    pid: int
    secret: int
    stewards: bool
    path: Path | None = None
    cursor: duckdb.DuckDBPyConnection | None = None
    txn: str = "I"
    params: dict[str, str] = field(default_factory=dict)
    prepared: dict[str, Prepared] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)


def _encode(description: Any, rows: list[Any]) -> tuple[bytes | None, list[bytes]]:
    if not description:
        return None, []
    columns = [(str(d[0]), wire.type_oid(str(d[1]))) for d in description]
    return wire.row_description(columns), [wire.data_row(tuple(r)) for r in rows]


def _tag(statement_type: str, rows: int) -> str:
    return "EXPLAIN" if statement_type == "EXPLAIN" else f"SELECT {rows}"


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SqlServer:
    """The endpoint: accepts sessions until :meth:`close`."""

    def __init__(self, settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
        self.settings = settings
        self.host = host or settings.sql.host
        self.port = settings.sql.port if port is None else port
        self.tls = self._tls_context()
        if self.tls is None and not _is_loopback(self.host):
            # Passwords travel in the clear without TLS: only a loopback address may serve that way.
            raise ConfigError(
                f"sql.tls (cert, key) is required to listen on {self.host}: passwords would cross "
                "the network in the clear"
            )
        self.warehouses = Warehouses(settings)
        self.audit = QueryAudit(settings)
        # DuckDB runs each statement in parallel itself; these threads only let sessions wait side by side.
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="radlake-sql")
        self.sessions: dict[int, Session] = {}
        self._server: asyncio.Server | None = None
        self._flusher: asyncio.Task[None] | None = None

    def _tls_context(self) -> ssl.SSLContext | None:
        tls = self.settings.sql.tls
        if tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(tls.cert), str(tls.key))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"sql.tls: cannot load {tls.cert} / {tls.key}: {exc}") from None
        return context

    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        if not load_accounts(self.settings.sql_accounts_path):
            log.warning(
                "no accounts in %s: add one with radlake sql account NAME --space SPACE",
                self.settings.sql_accounts_path,
            )
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self._flusher = asyncio.create_task(self._flush_loop())
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening, flush the audit rows, close the databases."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._flusher is not None:
            self._flusher.cancel()
            with suppress(asyncio.CancelledError):
                await self._flusher
        await asyncio.get_running_loop().run_in_executor(self.pool, self.audit.flush)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.warehouses.close()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.audit.due():
                try:
                    await asyncio.get_running_loop().run_in_executor(self.pool, self.audit.flush)
                except Exception as exc:  # the rows stay queued; the next flush retries
                    log.error("audit flush failed: %s", str(exc).splitlines()[0][:200])

    # --- one connection -------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Session | None = None
        try:
            session = await self._startup(reader, writer)
            if session is not None:
                await self._loop(session, reader, writer)
        except ProtocolError as exc:
            with suppress(ConnectionError):
                writer.write(wire.error(exc.code, str(exc), "FATAL"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            if session is not None:
                self.sessions.pop(session.pid, None)
                if session.path is not None:
                    self.warehouses.release(session.path)
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()

    async def _read_startup(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        length = struct.unpack("!I", await reader.readexactly(4))[0]
        if not 8 <= length <= 10_000:
            raise ProtocolError("08P01", "invalid startup packet length")
        body = await reader.readexactly(length - 4)
        return struct.unpack("!I", body[:4])[0], body[4:]

    async def _startup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Session | None:
        code, body = await self._read_startup(reader)
        encrypted = False
        while code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST):
            if code == wire.SSL_REQUEST and self.tls is not None:
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self.tls)
                encrypted = True
            else:
                writer.write(b"N")
                await writer.drain()
            code, body = await self._read_startup(reader)
        if code == wire.CANCEL_REQUEST:
            pid, secret = struct.unpack("!II", body[:8])
            target = self.sessions.get(pid)
            if target is not None and secrets.compare_digest(str(target.secret), str(secret)) and target.cursor:
                target.cursor.interrupt()
            return None
        if code != wire.PROTOCOL_V3:
            raise ProtocolError("0A000", "unsupported frontend protocol (use version 3)")
        if self.tls is not None and not encrypted:
            raise ProtocolError("28000", "this endpoint requires TLS (sslmode=require)")
        startup: dict[str, str] = {}
        pos = 0
        while pos < len(body) and body[pos] != 0:
            key, pos = wire.read_cstr(body, pos)
            value, pos = wire.read_cstr(body, pos)
            startup[key] = value
        user = startup.get("user", "")
        writer.write(wire.auth_cleartext())
        await writer.drain()
        kind, payload = await self._read_message(reader)
        if kind != b"p":
            raise ProtocolError("08P01", "expected a password message")
        password = payload.rstrip(b"\0").decode("utf-8", errors="replace")
        account = load_accounts(self.settings.sql_accounts_path).get(user)
        loop = asyncio.get_running_loop()
        valid = account is not None and await loop.run_in_executor(
            self.pool, verify_password, password, account.password_hash
        )
        if account is None or not valid:
            log.warning("refused a login (bad name or password)")
            raise ProtocolError("28P01", f'password authentication failed for user "{user[:63]}"')
        database = startup.get("database") or user
        if database != database_name(account.space):
            raise ProtocolError(
                "3D000",
                f'database "{database[:63]}" does not exist for this account (use {database_name(account.space)})',
            )
        peer = writer.get_extra_info("peername")
        session = Session(
            account=account,
            database=database,
            client=str(peer[0]) if peer else "",
            pid=secrets.randbelow(1 << 30) + 1,
            secret=secrets.randbits(31),
            stewards=sees_stewards_file(account.space),
        )
        session.params.update({k: v for k, v in startup.items() if k not in ("user", "database", "password")})
        self.sessions[session.pid] = session
        out = [wire.auth_ok()]
        announced = {
            **compat.SERVER_PARAMETERS,
            "TimeZone": self.settings.timezone,
            "application_name": startup.get("application_name", ""),
            "session_authorization": user,
        }
        out += [wire.parameter_status(k, v) for k, v in announced.items() if " " not in k]
        out += [wire.backend_key(session.pid, session.secret), wire.ready("I")]
        writer.write(b"".join(out))
        await writer.drain()
        log.info("session for account %s (space %s) opened", account.name, account.space)
        return session

    async def _read_message(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        header = await reader.readexactly(5)
        kind, length = header[:1], struct.unpack("!I", header[1:])[0]
        if not 4 <= length <= MAX_MESSAGE_BYTES:
            raise ProtocolError("08P01", "invalid message length")
        return kind, await reader.readexactly(length - 4)

    async def _loop(self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        skipping = False  # after an error in the extended protocol: ignore until Sync
        while True:
            kind, body = await self._read_message(reader)
            if kind == b"X":
                return
            if kind == b"S":
                skipping = False
                writer.write(wire.ready(session.txn))
            elif kind == b"H":
                pass
            elif skipping:
                continue
            elif kind == b"Q":
                sql, _ = wire.read_cstr(body, 0)
                writer.write(await self._simple(session, sql))
            else:
                try:
                    writer.write(await self._extended(session, kind, body))
                except QueryRefused as exc:
                    writer.write(wire.error(exc.code, str(exc)))
                    skipping = True
                    session.txn = "E" if session.txn != "I" else "I"
            await writer.drain()

    # --- statements -----------------------------------------------------------------------------------

    def _refresh(self, session: Session) -> None:
        """Move the session to the newest build, unless a transaction holds it on the one it began on."""
        if session.path is not None and (
            session.txn != "I" or self.warehouses.is_current(session.path, session.stewards)
        ):
            return
        if session.path is not None:
            self.warehouses.release(session.path)
            session.path = None
        try:
            session.path, session.cursor = self.warehouses.acquire(session.stewards)
        except LakeError as exc:
            raise QueryRefused("3D000", str(exc)) from None

    @contextmanager
    def _database(self, session: Session) -> Iterator[duckdb.DuckDBPyConnection]:
        self._refresh(session)
        assert session.cursor is not None
        yield session.cursor

    async def _statement(self, session: Session, sql: str, params: list[Any]) -> Result:
        """Run one statement (session command or query) and write its audit row."""
        answer = compat.session_command(sql, session.params)
        if answer is not None:  # session commands read no data: no audit row
            return self._answer(session, answer)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        status, error, rows = "ok", "", 0
        try:
            result = await self._query(session, sql, params)
            rows = result.row_count
            return result
        except QueryRefused as exc:
            status = {"54000": "too_many_rows", "57014": "timeout"}.get(exc.code, "refused")
            error = str(exc)
            raise
        except Exception as exc:
            status, error = "error", str(exc)
            raise
        finally:
            build = session.path.parent.name if session.path is not None else ""
            self.audit.add_query(
                QueryRecord(
                    account=session.account.name,
                    space=session.account.space,
                    database=session.database,
                    client=session.client,
                    statement=sql,
                    row_count=rows,
                    status=status,
                    error=error,
                    duration_ms=(time.perf_counter() - t0) * 1000,
                    build=build,
                    started_at=started,
                )
            )

    def _answer(self, session: Session, answer: compat.Answer) -> Result:
        if answer.tag == "BEGIN" and session.txn == "I":
            self._refresh(session)  # a transaction reads the build that is newest when it begins
            session.txn = "T"
        elif answer.tag in ("COMMIT", "ROLLBACK"):
            session.txn = "I"
        if answer.column is None:
            return Result(None, [], answer.tag)
        description = wire.row_description([(answer.column, wire.TEXT_OID)])
        return Result(
            description, [wire.data_row((answer.value,))], answer.tag if answer.tag != "SHOW" else "SHOW", row_count=1
        )

    async def _query(self, session: Session, sql: str, params: list[Any]) -> Result:
        sql = compat.rewrite(sql)
        with self._database(session) as cur:
            found = statements(cur, sql)
            if len(found) != 1:
                raise QueryRefused("42601", "one statement at a time")
            statement = found[0]
            check_read_only(statement, compat.ALLOWED_TYPES)
            max_rows = self.settings.sql.max_rows

            def work() -> Result:
                description, rows = run(cur, sql, params, max_rows)
                head, data = _encode(description, rows)
                return Result(head, data, _tag(statement.type.name, len(rows)), row_count=len(rows))

            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self.pool, work)
            timeout = self.settings.sql.statement_timeout_seconds
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout)
            except TimeoutError:
                cur.interrupt()
                with suppress(Exception):
                    await future
                raise QueryRefused("57014", f"canceling statement due to statement timeout ({timeout:g} s)") from None
            except duckdb.InterruptException:
                raise QueryRefused("57014", "canceling statement due to user request") from None
            except duckdb.Error as exc:
                raise QueryRefused("42000", str(exc).splitlines()[0][:500]) from None

    async def _simple(self, session: Session, sql: str) -> bytes:
        """A simple-protocol query string: each statement's reply, then ReadyForQuery."""
        if not sql.strip().strip(";").strip():
            return wire.empty_query() + wire.ready(session.txn)
        out: list[bytes] = []
        for part in self._split(session, sql):
            try:
                result = await self._statement(session, part, [])
            except QueryRefused as exc:
                out.append(wire.error(exc.code, str(exc)))
                if session.txn == "T":
                    session.txn = "E"
                break
            if result.description is not None:
                out.append(result.description)
            out += result.rows
            out.append(wire.command_complete(result.tag))
        out.append(wire.ready(session.txn))
        return b"".join(out)

    def _split(self, session: Session, sql: str) -> list[str]:
        """The statements of a query string (DuckDB's parser; session commands it does not know stay whole)."""
        if ";" not in sql.strip().rstrip(";"):
            return [sql]
        try:
            with self._database(session) as cur:
                return [s.query for s in statements(cur, compat.rewrite(sql))]
        except QueryRefused:
            return [sql]

    async def _extended(self, session: Session, kind: bytes, body: bytes) -> bytes:
        if kind == b"P":
            name, pos = wire.read_cstr(body, 0)
            sql, pos = wire.read_cstr(body, pos)
            count = struct.unpack("!H", body[pos : pos + 2])[0]
            oids = list(struct.unpack(f"!{count}I", body[pos + 2 : pos + 2 + 4 * count]))
            session.prepared[name] = Prepared(sql, oids)
            return wire.parse_complete()
        if kind == b"B":
            return self._bind(session, body)
        if kind == b"D":
            target, name = body[:1], wire.read_cstr(body, 1)[0]
            if target == b"S":
                prepared = session.prepared.get(name)
                if prepared is None:
                    raise QueryRefused("26000", f"prepared statement {name!r} does not exist")
                return wire.parameter_description([o or wire.TEXT_OID for o in prepared.oids]) + wire.no_data()
            portal = self._portal(session, name)
            portal.result = await self._statement(session, portal.sql, portal.params)
            return portal.result.description or wire.no_data()
        if kind == b"E":
            name = wire.read_cstr(body, 0)[0]
            portal = self._portal(session, name)
            result = portal.result or await self._statement(session, portal.sql, portal.params)
            portal.result = None
            return b"".join(result.rows) + wire.command_complete(result.tag)
        if kind == b"C":
            target, name = body[:1], wire.read_cstr(body, 1)[0]
            (session.prepared if target == b"S" else session.portals).pop(name, None)
            return wire.close_complete()
        raise ProtocolError("08P01", f"unexpected message type {kind!r}")

    def _portal(self, session: Session, name: str) -> Portal:
        portal = session.portals.get(name)
        if portal is None:
            raise QueryRefused("34000", f"portal {name!r} does not exist")
        return portal

    def _bind(self, session: Session, body: bytes) -> bytes:
        portal_name, pos = wire.read_cstr(body, 0)
        statement_name, pos = wire.read_cstr(body, pos)
        prepared = session.prepared.get(statement_name)
        if prepared is None:
            raise QueryRefused("26000", f"prepared statement {statement_name!r} does not exist")
        n_formats = struct.unpack("!H", body[pos : pos + 2])[0]
        formats = list(struct.unpack(f"!{n_formats}H", body[pos + 2 : pos + 2 + 2 * n_formats]))
        pos += 2 + 2 * n_formats
        n_params = struct.unpack("!H", body[pos : pos + 2])[0]
        pos += 2
        params: list[Any] = []
        for i in range(n_params):
            size = struct.unpack("!i", body[pos : pos + 4])[0]
            pos += 4
            raw = None if size < 0 else body[pos : pos + size]
            pos += max(size, 0)
            binary = (formats[i] if len(formats) > 1 else (formats[0] if formats else 0)) == 1
            oid = prepared.oids[i] if i < len(prepared.oids) else 0
            params.append(wire.decode_param(raw, oid, binary))
        session.portals[portal_name] = Portal(prepared.sql, params)
        return wire.bind_complete()


async def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run the endpoint until interrupted (``radlake sql serve``)."""
    server = SqlServer(settings, host=host, port=port)
    bound = await server.start()
    log.info("SQL endpoint on %s:%s (TLS %s)", server.host, bound, "on" if server.tls else "off")
    print(f"radlake SQL endpoint listening on {server.host}:{bound} (TLS {'on' if server.tls else 'off'})", flush=True)
    try:
        await server.serve_forever()
    finally:
        await server.close()
