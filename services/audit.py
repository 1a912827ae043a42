"""The request audit: one row per request to the services, buffered and landed in ``audit/service_requests``.

Rows are kept in memory for at most ``serve.audit_flush_seconds`` and landed by one background thread in
one commit per flush (a request never waits for the lake); rows older than ``serve.audit_retention_days`` are
pruned once a day by the same thread. The buffering and the idempotent commits are :class:`radlake.audit.AuditLog`'s.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, datetime

from radlake.audit import AuditLog
from radlake.config import Settings
from radlake.errors import RadlakeError

log = logging.getLogger(__name__)

PARAMS_MAX = 2000


class RequestAudit(AuditLog):
    """Collects request rows and lands them in batches (see the module docstring)."""

    def __init__(self, settings: Settings, *, app_id: str | None = None) -> None:
        super().__init__(
            settings,
            "audit/service_requests",
            # One app id per process: with ``serve.workers`` > 1 the processes flush on their own, and a shared
            # id would let one process's newer batch number make the table skip the other's older batch.
            app_id=app_id or f"serve:{socket.gethostname()}:{settings.serve.port}:{os.getpid()}",
            flush_seconds=settings.serve.audit_flush_seconds,
            retention_days=settings.serve.audit_retention_days,
            date_column="request_date",
        )

    def record(
        self,
        *,
        token_id: str | None,
        space: str | None,
        service: str,
        method: str,
        path: str,
        params: str,
        status: int,
        result_count: int | None,
        duration_ms: float,
        client: str | None,
        reason: str | None,
    ) -> None:
        """Queue one row (cheap: a dict append under a lock)."""
        now = datetime.now(UTC)
        row = {
            "request_id": uuid.uuid4().hex,
            "requested_at": now,
            "request_date": now.date(),
            "token_id": token_id or "",
            "space": space or "",
            "service": service,
            "method": method,
            "path": path[:PARAMS_MAX],
            "params": params[:PARAMS_MAX],
            "status": status,
            "result_count": result_count,
            "duration_ms": duration_ms,
            "client": client or "",
            "reason": (reason or "")[:PARAMS_MAX],
        }
        self.add(row)

    def flush(self) -> int:
        """Land the queued rows in one commit; returns how many. A failed commit keeps them for the next try."""
        try:
            return super().flush()
        except RadlakeError as exc:
            log.warning("audit rows not landed yet (%s); kept for the next flush", exc)
            return 0
