"""Change data capture from PostgreSQL RIS/HIS databases into bronze change logs and silver state tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from ingestion.cdc.report import SyncReport, TableReport
    from ingestion.cdc.state import parse_lsn
    from ingestion.cdc.status import SourceStatus, lagging_sources, source_status, sync_record_path
    from ingestion.cdc.sync import SyncBusyError, stream_source, sync_source

__all__ = [
    "SourceStatus",
    "SyncBusyError",
    "SyncReport",
    "TableReport",
    "lagging_sources",
    "parse_lsn",
    "source_status",
    "stream_source",
    "sync_record_path",
    "sync_source",
]

__getattr__ = lazy_face(
    __name__,
    {
        "SourceStatus": "status",
        "SyncBusyError": "sync",
        "SyncReport": "report",
        "TableReport": "report",
        "lagging_sources": "status",
        "parse_lsn": "state",
        "source_status": "status",
        "stream_source": "sync",
        "sync_record_path": "status",
        "sync_source": "sync",
    },
)
