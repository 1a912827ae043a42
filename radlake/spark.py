"""The only place that makes a Spark session: in-process Sail (embedded) or a Spark Connect URL."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from radlake.config import Settings
from radlake.errors import SourceUnreachableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_lock = threading.Lock()
_embedded_server = None  # one Sail server per process, started on first use
_sessions: dict[str, SparkSession] = {}


def _embedded_url() -> str:
    global _embedded_server
    with _lock:
        if _embedded_server is None:
            # Sail logs every session at INFO and its shutdown at WARN on stderr; keep the CLI's output
            # readable (RUST_LOG set by the user wins).
            os.environ.setdefault("RUST_LOG", "error")
            from pysail.spark import SparkConnectServer

            server = SparkConnectServer(ip="127.0.0.1", port=0)
            server.start(background=True)
            _embedded_server = server
        address = _embedded_server.listening_address
        if address is None:
            raise SourceUnreachableError("the embedded Spark engine (Sail) did not start")
        return f"sc://127.0.0.1:{address[1]}"


def spark_session(settings: Settings) -> SparkSession:
    """Return the process's Spark session for these settings.

    Parameters
    ----------
    settings
        ``settings.spark`` is ``embedded`` (start Sail in this process once) or a Spark Connect URL
        (``sc://host:15002``) of a cluster running Spark 4.x with delta-spark.

    Returns
    -------
    SparkSession
        A Spark Connect session, reused by later calls with the same target.
    """
    url = _embedded_url() if settings.spark == "embedded" else settings.spark
    with _lock:
        session = _sessions.get(url)
        if session is not None:
            return session
    from pyspark.sql import SparkSession

    try:
        # create(), not getOrCreate(): the latter hands back any existing session whatever its URL, so a second
        # target in one process (Sail and a cluster) would silently run on the first.
        session = SparkSession.builder.remote(url).create()
        # UTC inside the engine: timestamps from sources carry their zone, and marts convert at the edge.
        session.conf.set("spark.sql.session.timeZone", "UTC")
    except Exception as exc:  # pyspark raises several unrelated types for a dead endpoint
        raise SourceUnreachableError(f"Spark Connect at {url} is unreachable: {type(exc).__name__}") from None
    with _lock:
        _sessions[url] = session
    return session


def close_session(url: str) -> None:
    """Stop and forget this process's session to ``url`` (before its server goes away: a session to a closed
    port retries its release for minutes)."""
    with _lock:
        session = _sessions.pop(url, None)
    if session is not None:
        session.stop()


def stop_embedded() -> None:
    """Stop the in-process Sail server and its session (tests and short-lived commands).

    Only the embedded server's own session is stopped: a session to another server (a cluster a test started
    and has stopped already) would retry its release for minutes against a closed port.
    """
    global _embedded_server
    with _lock:
        if _embedded_server is None:
            return
        address = _embedded_server.listening_address
        url = f"sc://127.0.0.1:{address[1]}" if address else None
        session = _sessions.pop(url, None) if url else None
        if session is not None:
            session.stop()
        _embedded_server.stop()
        _embedded_server = None
