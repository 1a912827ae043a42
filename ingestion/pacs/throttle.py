"""When a pull may run: the configured local hours of the day (``pacs.window``, e.g. ``20:00-06:00``)."""

from __future__ import annotations

from datetime import datetime, time


def in_window(now: datetime, window: str) -> bool:
    """Whether local time ``now`` is inside ``HH:MM-HH:MM`` (wrapping midnight when the end is earlier); an
    empty window is always open."""
    if not window:
        return True
    start_text, end_text = window.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    t = now.time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end
