"""The request audit: one row per request to the services, buffered and landed in ``audit/service_requests``.

Rows are kept in memory for at most ``serve.audit_flush_seconds`` and landed by one background thread in
one commit per flush (a request never waits for the lake). Each commit carries an app transaction of this
host and port with an increasing number, so a retried flush never lands twice. Rows older than
``serve.audit_retention_days`` are pruned once a day by the same thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings
from radlake.errors import RadlakeError

log = logging.getLogger(__name__)

PARAMS_MAX = 2000
SPEC = catalog.table("audit", "service_requests")


class AuditLog:
    """Collects audit rows and lands them in batches (see the module docstring)."""

    def __init__(self, settings: Settings, *, app_id: str | None = None) -> None:
        self._settings = settings
        self._uri = catalog.table_uri(settings, SPEC)
        self._app_id = app_id or f"serve:{socket.gethostname()}:{settings.serve.port}"
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_txn = 0
        self._pruned_on: date | None = None

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
        with self._lock:
            self._rows.append(row)

    def flush(self) -> int:
        """Land the queued rows in one commit; returns how many. A failed commit keeps them for the next try."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                self._prune()
                return 0
            # Increasing across restarts (wall-clock microseconds), strictly increasing within this process.
            txn = max(self._last_txn + 1, time.time_ns() // 1000)
            data = catalog.conform(SPEC, pa.Table.from_pylist(rows))
            try:
                lake.append_idempotent(
                    self._settings,
                    self._uri,
                    data,
                    app_id=self._app_id,
                    txn_version=txn,
                    partition_by=SPEC.partition_by,
                )
            except RadlakeError as exc:
                log.warning("audit rows not landed yet (%s); kept for the next flush", exc)
                with self._lock:
                    self._rows = rows + self._rows
                return 0
            self._last_txn = txn
            self._prune()
            return len(rows)

    def _prune(self) -> None:
        today = datetime.now(UTC).date()
        if self._pruned_on == today or lake.open_table(self._settings, self._uri) is None:
            return
        cutoff = today - timedelta(days=self._settings.serve.audit_retention_days)
        lake.replace(
            self._settings,
            self._uri,
            SPEC.schema.empty_table() if SPEC.schema is not None else pa.table({}),
            predicate=f"request_date < '{cutoff.isoformat()}'",
            partition_by=SPEC.partition_by,
        )
        self._pruned_on = today

    def start(self) -> None:
        """Start the background flusher (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="radlake-audit", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._settings.serve.audit_flush_seconds):
            try:
                self.flush()
            except Exception:  # the flusher must outlive one bad flush; the rows stay queued
                log.exception("audit flush failed")

    def close(self) -> None:
        """Stop the flusher and land what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
