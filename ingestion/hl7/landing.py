"""Write-ahead segments → bronze/hl7_messages: one commit per segment, one row per control id, exactly once."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

from ingestion.hl7.message import Hl7Reject, parse_message
from ingestion.hl7.wal import read_segment, segment_number
from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake, Table

log = logging.getLogger(__name__)

MESSAGES = catalog.table("bronze", "hl7_messages")


def messages(settings: Settings) -> Table:
    """The handle of bronze/hl7_messages."""
    return Lake(settings).table(MESSAGES)


def app_id(wal_dir: Path) -> str:
    """The Delta app id of one write-ahead folder: its segment numbers are that app's batch numbers."""
    return "hl7:" + hashlib.sha256(str(wal_dir.resolve()).encode()).hexdigest()[:16]


def landed_segment(settings: Settings, wal_dir: Path) -> int:
    """The highest segment number of this folder already committed to bronze (0 before any)."""
    return messages(settings).committed_version(app_id(wal_dir)) or 0


def landed_keys(settings: Settings) -> dict[tuple[str, str], str]:
    """(sending facility, control id) → message sha256 of every message in bronze (for resend checks)."""
    data = messages(settings).read_arrow(["sending_facility", "control_id", "message_sha256"])
    if data is None:
        return {}
    cols = [data.column(n).to_pylist() for n in ("sending_facility", "control_id", "message_sha256")]
    return {(f, c): s for f, c, s in zip(*cols, strict=True)}


def rows_of(records: list[tuple[bytes, datetime]], default_encoding: str, timezone: str) -> pa.Table:
    """Bronze rows of stored messages (the first of a repeated control id wins; unparseable ones are skipped:
    the listener stores only messages that parsed, so none is expected)."""
    zone = ZoneInfo(timezone)
    seen: set[tuple[str, str]] = set()
    rows: dict[str, list[object]] = {name: [] for name in MESSAGES.schema.names}  # type: ignore[union-attr]
    for raw, received_at in records:
        try:
            msg = parse_message(raw, default_encoding)
        except Hl7Reject:
            continue
        key = (msg.sending_facility or "", msg.control_id or "")
        if key in seen:
            continue
        seen.add(key)
        values = {
            "sending_facility": key[0],
            "control_id": key[1],
            "sending_application": msg.get("MSH", 3),
            "message_type": msg.message_type,
            "message_datetime": msg.get("MSH", 7),
            "version": msg.get("MSH", 12),
            "encoding": msg.encoding,
            "encoding_inferred": msg.encoding_inferred,
            "message_text": msg.text,
            "message_sha256": hashlib.sha256(raw).hexdigest(),
            "message_bytes": len(raw),
            "received_at": received_at,
            "receive_date": received_at.astimezone(zone).date(),
        }
        for name, value in values.items():
            rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=MESSAGES.schema)


def land_segment(settings: Settings, path: Path, wal_dir: Path) -> int:
    """Commit one closed segment's messages that bronze does not hold yet; returns the rows committed.

    The commit carries the segment number as the folder's app transaction, so landing a segment again (after
    a crash between the commit and the segment's removal) commits nothing.
    """
    number = segment_number(path)
    if number <= landed_segment(settings, wal_dir):
        return 0
    records = [(r.raw, r.received_at) for r in read_segment(path)]
    table = rows_of(records, settings.hl7.encoding, settings.timezone)
    target = messages(settings)
    if table.num_rows:
        # A message resent after an earlier segment landed (the listener restarted and its sender resent) is
        # already in bronze: keep its first row.
        present = target.values_present("control_id", table.column("control_id").to_pylist())
        if present:
            known = set(landed_keys(settings))
            keep = [
                (f, c) not in known
                for f, c in zip(
                    table.column("sending_facility").to_pylist(), table.column("control_id").to_pylist(), strict=True
                )
            ]
            table = table.filter(pa.array(keep))
    target.append(table, app_id=app_id(wal_dir), txn_version=number)
    return table.num_rows


def land_closed(settings: Settings, closed: list[Path], wal_dir: Path) -> int:
    """Land closed segments in order, removing each once committed; returns the rows committed."""
    total = 0
    for path in closed:
        total += land_segment(settings, path, wal_dir)
        path.unlink()
    return total
