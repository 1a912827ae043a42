"""One audit row per statement the endpoint ran, committed to ``audit/sql_queries`` in batches.

Rows wait in memory and are appended every ``sql.audit_flush_rows`` rows or ``sql.audit_flush_seconds``
seconds, and when the server stops (:class:`radlake.audit.AuditLog`: each append carries a Delta app
transaction of this server, so a retried commit never lands a batch twice).
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from radlake.audit import AuditLog
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


class QueryAudit(AuditLog):
    """Buffered writer of ``audit/sql_queries`` (thread-safe; sessions add, a timer or the size flushes)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            "audit/sql_queries",
            # One writer id per server start.
            app_id=f"sql-endpoint:{socket.gethostname()}:{uuid.uuid4().hex[:12]}",
            flush_rows=settings.sql.audit_flush_rows,
            flush_seconds=settings.sql.audit_flush_seconds,
        )

    def add_query(self, record: QueryRecord) -> None:
        """Queue one statement's row; flushes when the batch is full."""
        self.add(
            {
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
        )
