"""What one batch of change capture did: per table and per source (read by the status record and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class TableReport:
    """What a batch did to one table."""

    rows: int = 0
    ops: dict[str, int] = field(default_factory=dict)


@dataclass
class SyncReport:
    """The outcome of one batch of one source.

    Attributes
    ----------
    kind
        ``snapshot`` (a snapshot landed), ``changes`` (changes landed) or ``idle``.
    position
        The source position after the batch: an LSN (``0/1B4AFC8``) or the latest watermark.
    lag_bytes, lag_seconds
        WAL the slot still holds after the batch; seconds from the newest landed change's commit to the end of
        the batch when the slot is not drained (0 when drained). None in query mode.
    latencies
        ``(seconds from source commit to visibility in silver, changes)`` per source transaction landed.
    batches, target, caught_up, warning
        A sync: batches run; the WAL position it had to reach (the end of what was committed when it
        started); whether it reached it; and when it did not (``cdc.max_sync_seconds``), the warning naming
        the lag left.
    """

    source: str
    mode: str
    kind: str = "idle"
    position: str | None = None
    tables: dict[str, TableReport] = field(default_factory=dict)
    snapshot_tables: list[str] = field(default_factory=list)
    dropped_tables: list[str] = field(default_factory=list)
    refused_tables: dict[str, str] = field(default_factory=dict)
    recovered_tables: list[str] = field(default_factory=list)
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    drained: bool = True
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration_s: float = 0.0
    latencies: list[tuple[float, int]] = field(default_factory=list)
    batches: int = 0
    target: str | None = None
    caught_up: bool = True
    warning: str | None = None
    position_lsn: int | None = None

    @property
    def changes(self) -> int:
        """Changes landed (snapshot rows not counted)."""
        return sum(n for t in self.tables.values() for op, n in t.ops.items() if op != "snapshot")
