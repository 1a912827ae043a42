"""Which watch-folder files still need landing: found by inventory (what bronze has not seen), not by mtime.

A file's modification time says when it was written, not when it reached the watch folder: ``cp -p``,
``rsync -a`` and Windows copies keep the original's. So the sensor compares what the folders hold with the
paths in ``bronze/dicom_files`` (the lake is the inventory) and asks for a run of **today's** partition (the
hospital's local day it first saw the file) for every settled file not landed yet, whatever its mtime. That
run lands every not-yet-landed file of the watch folders (see :func:`files_arrived`); bronze's
``ingest_date`` is the local day it was landed. A file is identified by its path, as in bronze: a file
rewritten in place under a landed path is not landed again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingestion.dicom import PARTIAL_SUFFIX


def _walk(roots: Iterable[Path]) -> Iterator[os.DirEntry[str]]:
    stack = [str(r) for r in roots if Path(r).is_dir()]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False) and not entry.name.endswith(PARTIAL_SUFFIX):
                            yield entry
                    except OSError:
                        continue  # vanished or unreadable: seen again at the next tick
        except OSError:
            continue


def _mtime_day(entry: os.DirEntry[str], zone: ZoneInfo) -> date | None:
    try:
        return datetime.fromtimestamp(entry.stat().st_mtime, zone).date()
    except OSError:
        return None


def files_arrived(
    roots: Iterable[Path], first: date, last: date, timezone: str, today: date | None = None
) -> list[Path]:
    """Files a run of the day partitions ``first``..``last`` should land (those already landed are skipped
    by the ingest).

    Those modified on a local day up to ``last`` (a day's own files, and older ones copied in late with their
    times kept); when the window reaches today, every file (also those with a clock-skewed future mtime):
    the sensor asks for today's partition for any file it has not seen landed.
    """
    zone = ZoneInfo(timezone)
    today = today or datetime.now(zone).date()
    out = []
    for entry in _walk(roots):
        day = _mtime_day(entry, zone)
        if day is not None and (last >= today or day <= last):
            out.append(Path(entry.path))
    return sorted(out)


def path_key(path: str) -> str:
    """A short stable key of a path for the sensor's cursor (no file names in Dagster's storage)."""
    return hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


@dataclass
class Unseen:
    """What :func:`unseen_files` found: settled files not landed (their path keys), and files still settling."""

    keys: list[str] = field(default_factory=list)
    waiting: int = 0


def unseen_files(roots: Iterable[Path], landed: Callable[[list[str]], set[str]], settled_before: float) -> Unseen:
    """Files under ``roots`` without a ``bronze/dicom_files`` row; those modified after ``settled_before``
    (maybe still being copied) are only counted.

    ``landed`` is asked which of the files found are landed (:func:`ingestion.dicom.landing.landed_among`):
    the folders' contents bound the memory, not the years of files bronze has landed.
    """
    found = Unseen()
    entries = list(_walk(roots))
    done = landed([e.path for e in entries])
    for entry in entries:
        if entry.path in done:
            continue
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        if mtime > settled_before:
            found.waiting += 1
        else:
            found.keys.append(path_key(entry.path))
    return found
