"""What a parsing worker process runs first, before it imports pyarrow: keep numpy and pandas out of it.

pyarrow imports numpy when it loads and pandas the first time it converts a Python list, only to ask whether a
value is one of theirs. A parsing worker never holds one, and the two imports were most of a spawned worker's
start-up (issue 30): with them refused, pyarrow runs without them. This module imports nothing but the
standard library, so naming :func:`worker_init` as a pool's initializer loads nothing else.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

REFUSED = ("numpy", "pandas")
"""Top-level packages a parsing worker does not import."""


class _Refuse(importlib.abc.MetaPathFinder):
    """Makes importing :data:`REFUSED` packages fail in this process, as if they were not installed."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in REFUSED:
            raise ImportError(f"{fullname} is not used by DICOM parsing workers")
        return None


def worker_init() -> None:
    """Refuse :data:`REFUSED` in this (worker) process, unless one is loaded already (then leave it be)."""
    if not any(name in sys.modules for name in REFUSED):
        sys.meta_path.insert(0, _Refuse())
