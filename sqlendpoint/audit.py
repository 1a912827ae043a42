"""One audit row per statement the endpoint ran, committed to ``audit/sql_queries`` in batches.

Rows wait in memory and are appended through :mod:`radlake.lake` every ``sql.audit_flush_rows`` rows or
``sql.audit_flush_seconds`` seconds, and when the server stops. Each append carries a Delta app transaction
(this server's id, a batch number), so a retried commit never lands a batch twice.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings

STATEMENT_CHARS = 2000
ERROR_CHARS = 240


@dataclass(frozen=True)
class QueryRecord:
    """What one statement did."""

    account: str
    space: str
    database: str
    client: str
    statement: str
    row_count: int
    status: str
    error: str
    duration_ms: float
    build: str
    started_at: datetime


class AuditLog:
    """Buffered writer of ``audit/sql_queries`` (thread-safe; sessions add, a timer or the size flushes)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spec = catalog.table("audit", "sql_queries")
        # One writer id per server start: its batches are numbered from 1.
        self.app_id = f"sql-endpoint:{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        self._rows: list[dict[str, Any]] = []
        self._batch = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()

    def add(self, record: QueryRecord) -> None:
        """Queue one statement's row; flushes when the batch is full."""
        row = {
            "query_id": uuid.uuid4().hex,
            "started_at": record.started_at,
            "query_date": record.started_at.astimezone(UTC).date(),
            "account": record.account,
            "space": record.space,
            "database": record.database,
            "client": record.client,
            "statement": record.statement[:STATEMENT_CHARS],
            "row_count": record.row_count,
            "status": record.status,
            "error": " ".join(record.error.split())[:ERROR_CHARS],
            "duration_ms": record.duration_ms,
            "build": record.build,
        }
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self.settings.sql.audit_flush_rows
        if full:
            self.flush()

    def due(self) -> bool:
        """Whether rows have waited ``sql.audit_flush_seconds``."""
        with self._lock:
            waiting = bool(self._rows)
        return waiting and time.monotonic() - self._last_flush >= self.settings.sql.audit_flush_seconds

    def flush(self) -> int:
        """Commit the queued rows (one append); returns how many. Rows stay queued if the commit fails."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
            if not rows:
                return 0
            data = catalog.conform(self.spec, pa.Table.from_pylist(rows))
            try:
                lake.append_idempotent(
                    self.settings,
                    catalog.table_uri(self.settings, self.spec),
                    data,
                    app_id=self.app_id,
                    txn_version=self._batch + 1,
                    partition_by=self.spec.partition_by,
                )
            except Exception:
                with self._lock:
                    self._rows[:0] = rows
                raise
            self._batch += 1
            return len(rows)
