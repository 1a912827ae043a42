"""Change data capture from PostgreSQL RIS/HIS databases into bronze change logs and silver state tables."""

from __future__ import annotations

from ingestion.cdc.sync import (
    SourceStatus,
    SyncBusyError,
    SyncReport,
    TableReport,
    source_status,
    stream_source,
    sync_source,
)

__all__ = [
    "SourceStatus",
    "SyncBusyError",
    "SyncReport",
    "TableReport",
    "source_status",
    "stream_source",
    "sync_source",
]
