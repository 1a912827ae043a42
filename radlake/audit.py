"""Audit trails in the lake: rows buffered in memory and appended to one audit table in batches.

A request or a statement never waits for the lake: rows are queued under a lock and landed by a flush (a
background thread, a timer, or a full batch). Each flush is one append carrying an app transaction of the
writer with an increasing number (wall-clock microseconds, strictly increasing within the process), so a
retried flush never lands twice, also across restarts under the same app id. A failed flush keeps its rows
for the next one. With ``retention_days``, rows older than that are pruned once a day by the flusher.

The data services (``audit/service_requests``) and the SQL endpoint (``audit/sql_queries``) share it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from radlake.config import Settings
from radlake.lake import Lake

log = logging.getLogger(__name__)

__all__ = ["AuditLog"]


class AuditLog:
    """Buffered writer of one audit table (thread-safe).

    Parameters
    ----------
    settings
        Where the lake is.
    table
        The audit table, ``audit/<name>`` (its catalog entry gives columns and partitioning).
    app_id
        The writer's Delta app id.
    flush_rows
        Flush as soon as this many rows wait (0: only on time or when asked).
    flush_seconds
        How long rows may wait: the background thread's period (:meth:`start`) and what :meth:`due` checks.
    retention_days, date_column
        Prune rows whose ``date_column`` is older than ``retention_days`` days, once a day (None: keep all).
    """

    def __init__(
        self,
        settings: Settings,
        table: str,
        *,
        app_id: str,
        flush_seconds: float,
        flush_rows: int = 0,
        retention_days: int | None = None,
        date_column: str | None = None,
    ) -> None:
        self.settings = settings
        self.table = Lake(settings).at(table)
        self.app_id = app_id
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.retention_days = retention_days
        self.date_column = date_column
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._last_txn = 0
        self._pruned_on: date | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (a dict append under a lock); flushes when the batch is full."""
        with self._lock:
            self._rows.append(row)
            full = 0 < self.flush_rows <= len(self._rows)
        if full:
            self.flush()

    def due(self) -> bool:
        """Whether rows have waited ``flush_seconds``."""
        with self._lock:
            waiting = bool(self._rows)
        return waiting and time.monotonic() - self._last_flush >= self.flush_seconds

    def flush(self) -> int:
        """Land the queued rows in one commit; returns how many.

        Raises
        ------
        Exception
            Whatever the commit raised; the rows stay queued for the next flush.
        """
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
            if not rows:
                self._prune()
                return 0
            txn = max(self._last_txn + 1, time.time_ns() // 1000)
            try:
                self.table.append(rows, app_id=self.app_id, txn_version=txn)
            except Exception:
                with self._lock:
                    self._rows[:0] = rows
                raise
            self._last_txn = txn
            self._prune()
            return len(rows)

    def _prune(self) -> None:
        if self.retention_days is None or self.date_column is None:
            return
        today = datetime.now(UTC).date()
        if self._pruned_on == today or not self.table.exists():
            return
        cutoff = today - timedelta(days=self.retention_days)
        self.table.replace([], where=f"{self.date_column} < '{cutoff.isoformat()}'")
        self._pruned_on = today

    def start(self) -> None:
        """Start the background flusher (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"radlake-audit:{self.table.key}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the flusher must outlive one bad flush; the rows stay queued
                log.exception("audit flush of %s failed", self.table.key)

    def close(self) -> None:
        """Stop the flusher and land what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
