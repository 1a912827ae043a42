"""Which files arrived in the watch folders on which local day (a file's arrival is its modification time)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo


def _walk(roots: Iterable[Path]) -> Iterator[os.DirEntry[str]]:
    stack = [str(r) for r in roots if Path(r).is_dir()]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry


def files_arrived(roots: Iterable[Path], first: date, last: date, timezone: str) -> list[Path]:
    """Files under ``roots`` whose modification time falls on a local day in ``first``..``last``."""
    zone = ZoneInfo(timezone)
    return sorted(
        Path(e.path) for e in _walk(roots) if first <= datetime.fromtimestamp(e.stat().st_mtime, zone).date() <= last
    )


def newest_arrival(roots: Iterable[Path], after: float) -> tuple[float, int]:
    """The newest modification time under ``roots`` and how many files are newer than ``after``."""
    newest, count = after, 0
    for entry in _walk(roots):
        mtime = entry.stat().st_mtime
        if mtime > after:
            count += 1
            newest = max(newest, mtime)
    return newest, count
