"""One serving index per version of its tables, built once into a DuckDB file that every worker opens read-only.

With ``serve.workers`` > 1, ``radlake serve`` runs several uvicorn processes; each would otherwise build and
hold its own in-memory copy of the index (1.9 GiB at a million instances). Instead the first process that needs
a generation builds it into ``<folder>/<generation>.duckdb`` (under an exclusive file lock, written beside and
renamed into place, so no process ever opens half a file) and every process opens that file read-only: the
operating system's page cache holds the data once, and each process's DuckDB buffer is bounded by
``memory_limit``. When a generation is written, all but the two newest files of its kind are removed (a
process still reading an older one keeps its open handle until it moves on).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import duckdb

from radlake.config import Settings
from radlake.private import state_folder

WORKER_MEMORY = "1GB"
"""DuckDB's buffer per worker process on a shared file (the file's pages are shared through the OS cache)."""


def shared_folder(settings: Settings) -> Path:
    """Where this server's index generations are kept: ``serve_index`` in the state folder (local, owner-only)."""
    return state_folder(settings, "serve_index")  # the index holds identified rows: owner-only


def generation_name(kind: str, versions: object) -> str:
    """A file name for one generation: the kind of index and a hash of the table versions it holds."""
    return f"{kind}-{hashlib.sha256(repr(versions).encode('utf-8')).hexdigest()[:16]}.duckdb"


def open_shared(
    folder: Path, kind: str, versions: object, build: Callable[[duckdb.DuckDBPyConnection], None]
) -> duckdb.DuckDBPyConnection:
    """The read-only connection to this generation's file, built first by ``build`` if no process has.

    Parameters
    ----------
    folder
        Where the generations of every kind are kept (one folder per server, on a local disk).
    kind
        ``dicomweb`` or ``lake`` (each index keeps its own generations).
    versions
        The table versions the generation is built from (any value with a stable ``repr``).
    build
        Fills an empty, writable DuckDB database with the index's tables.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / generation_name(kind, versions)
    if not path.exists():
        with (folder / f".{kind}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait here, then find the file
            if not path.exists():
                partial = path.with_suffix(f".{os.getpid()}.partial")
                partial.unlink(missing_ok=True)
                db = duckdb.connect(str(partial))
                try:
                    build(db)
                    db.execute("CHECKPOINT")
                finally:
                    db.close()
                os.replace(partial, path)
                kept = sorted(folder.glob(f"{kind}-*.duckdb"), key=lambda p: p.stat().st_mtime, reverse=True)
                for old in kept[2:]:
                    old.unlink(missing_ok=True)
    # One thread per query: the worker processes (and each one's request threads) are the parallelism; a
    # query split over threads only waits for its slowest part on a loaded machine.
    db = duckdb.connect(str(path), read_only=True, config={"memory_limit": WORKER_MEMORY, "threads": 1})
    db.execute("SET enable_progress_bar = false")
    return db
