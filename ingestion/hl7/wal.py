"""The listener's write-ahead file: each message fsynced to local disk before its ACK, many messages per fsync.

Why this is durable: a message is acknowledged only after its record is written and ``fsync``-ed (the file,
and the folder when a segment is created), so a kill -9 or a power cut after the ACK finds it on disk. A record
carries its length and CRC-32: a record torn by a crash before its fsync (never acknowledged, so the sender
resends it) is dropped at recovery, with everything after it. Segments are landed in bronze in order, each
under its number as a Delta app transaction, and deleted only after that commit: a crash between the commit
and the delete re-lands nothing. Why it is fast: connections waiting at once share one fsync (group commit),
so the rate grows with the senders instead of being one fsync per message.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_MAGIC = b"HL7R"
_HEAD = struct.Struct("<4sII")  # magic, payload length, CRC-32 of the payload
_NAME = re.compile(r"wal-(\d{12})\.log")


@dataclass(frozen=True)
class Record:
    """One stored message: the bytes inside its MLLP frame and when it was received."""

    raw: bytes
    received_at: datetime


def _encode(rec: Record) -> bytes:
    meta = json.dumps({"received_at": rec.received_at.isoformat()}).encode("ascii")
    payload = struct.pack("<I", len(meta)) + meta + rec.raw
    return _HEAD.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> Iterator[Record]:
    """The whole records of a segment, in order; a torn or corrupt tail (a crash before its fsync) ends it."""
    with path.open("rb") as fh:
        while True:
            head = fh.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return
            magic, size, crc = _HEAD.unpack(head)
            payload = fh.read(size)
            if magic != _MAGIC or len(payload) < size or zlib.crc32(payload) != crc:
                return
            (meta_len,) = struct.unpack_from("<I", payload)
            meta = json.loads(payload[4 : 4 + meta_len])
            yield Record(payload[4 + meta_len :], datetime.fromisoformat(meta["received_at"]))


def segment_number(path: Path) -> int:
    """The number in a segment's name (``wal-000000000007.log`` → 7)."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path.name}: not a write-ahead segment")
    return int(match.group(1))


def segments(folder: Path) -> list[Path]:
    """The segments in a folder, oldest first."""
    return sorted((p for p in folder.glob("wal-*.log") if _NAME.fullmatch(p.name)), key=segment_number)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteAhead:
    """Append records to the open segment; :meth:`store` returns once they are on disk.

    Parameters
    ----------
    folder
        Where segments live (created).
    first_number
        The number of the segment to open: above every segment already there and every one already landed.
    """

    def __init__(self, folder: Path, first_number: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._cond = threading.Condition()
        self._io = threading.Lock()  # held while the open segment is written, fsynced or swapped (taken before _cond)
        self._pending: list[bytes] = []
        self._queued = 0  # generation of the last record queued
        self._durable = 0  # generation of the last record on disk
        self._error: OSError | None = None
        self._closed = False
        self._number = first_number
        self._fh = self._open(first_number)
        self.records_in_open = 0
        self._flusher = threading.Thread(target=self._flush_loop, name="hl7-wal", daemon=True)
        self._flusher.start()

    def _open(self, number: int) -> object:
        fh = (self.folder / f"wal-{number:012d}.log").open("ab", buffering=0)
        _fsync_dir(self.folder)
        return fh

    def store(self, record: Record) -> int:
        """Queue a record and wait until it is fsynced; returns its generation.

        Raises
        ------
        OSError
            The disk refused the write (full, read-only): the message must not be acknowledged.
        """
        data = _encode(record)
        with self._cond:
            if self._closed:
                raise OSError("the write-ahead file is closed")
            self._pending.append(data)
            self._queued += 1
            gen = self._queued
            self._cond.notify_all()
            self.wait(gen)
            return gen

    def wait(self, gen: int) -> None:
        """Block until generation ``gen`` is on disk (call with the lock held or not)."""
        with self._cond:
            while self._durable < gen and self._error is None:
                self._cond.wait()
            if self._durable < gen and self._error is not None:
                raise self._error

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                batch, self._pending = self._pending, []
                upto = self._queued
            with self._io:
                try:
                    self._fh.write(b"".join(batch))  # type: ignore[attr-defined]
                    os.fsync(self._fh.fileno())  # type: ignore[attr-defined]
                except (OSError, ValueError) as exc:
                    with self._cond:
                        self._error = exc if isinstance(exc, OSError) else OSError(str(exc))
                        self._cond.notify_all()
                    return
                with self._cond:
                    self.records_in_open += len(batch)
                    self._durable = upto
                    self._cond.notify_all()

    def rotate(self) -> list[Path]:
        """Close the open segment (once its records are durable) and open the next; returns closed segments.

        Every segment but the new open one may then be landed.
        """
        with self._io, self._cond:
            # Records queued but not yet written go to the next segment: only written ones are in this one.
            if self.records_in_open and not self._closed:
                self._fh.close()  # type: ignore[attr-defined]
                self._number += 1
                self._fh = self._open(self._number)
                self.records_in_open = 0
            current = self._number + (1 if self._closed else 0)
        return [p for p in segments(self.folder) if segment_number(p) < current]

    def close(self) -> None:
        """Flush what is queued and stop the flusher (records stored so far stay for landing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._flusher.join(timeout=30)
        self._fh.close()  # type: ignore[attr-defined]


def now_utc() -> datetime:
    """The receive time of a message (UTC)."""
    return datetime.now(UTC)
