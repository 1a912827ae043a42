"""Which files arrived in the watch folders on which local day (a file's arrival is its modification time)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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


def new_arrivals(roots: Iterable[Path], after: float, settled_before: float, timezone: str) -> Arrivals:
    """Files under ``roots`` modified after ``after``: the settled ones' newest time and local days, and how
    many are still too young (modified after ``settled_before``: maybe still being copied)."""
    zone = ZoneInfo(timezone)
    newest, days, waiting = after, set(), 0
    for entry in _walk(roots):
        mtime = entry.stat().st_mtime
        if mtime <= after:
            continue
        if mtime > settled_before:
            waiting += 1
            continue
        newest = max(newest, mtime)
        days.add(datetime.fromtimestamp(mtime, zone).date())
    return Arrivals(newest, sorted(days), waiting)


@dataclass(frozen=True)
class Arrivals:
    """What :func:`new_arrivals` found."""

    newest: float
    days: list[date]
    waiting: int
