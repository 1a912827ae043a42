"""Commit and retry (engine-neutral): every Delta commit of radlake runs through :func:`commit`.

Concurrency: several writers (folder ingests, the receiver, a CDC sync, Dagster runs in other pods) may
commit to one table at once. Both engines commit optimistically (a put-if-absent of the next log version,
see :mod:`radlake.storage`); a commit that loses the race and conflicts with what won is retried here a few
times with backoff. Also here: opening a table's Delta log (delta-rs) and what it says about the table.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from radlake.config import Settings
from radlake.errors import DataError, LakeError
from radlake.storage import storage_options

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger("radlake.lake")
T = TypeVar("T")

COMMIT_ATTEMPTS = 6  # bounded: a table that keeps conflicting after this is a real problem to report
_BACKOFF_S = 0.2
_retries = 0
_retries_lock = threading.Lock()


class SchemaMismatchError(DataError):
    """Rows whose column types no longer match the table's."""


def commit_retries() -> int:
    """How many conflicting commits this process has retried (for benches and run metadata)."""
    return _retries


def _is_conflict(exc: BaseException) -> bool:
    """A commit lost the race for the next version and conflicts with the winner (worth retrying)."""
    from deltalake.exceptions import CommitFailedError

    if isinstance(exc, CommitFailedError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(w in text for w in ("concurrent", "conflict", "has been updated", "version already exists"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(exc: BaseException) -> str:
    # delta-rs reports a tree of causes over several coloured lines: one plain line for a person.
    text = " ".join(_ANSI.sub("", str(exc)).replace("↳", "").split())
    return text[:300] + ("..." if len(text) > 300 else "")


def commit(uri: str, what: str, attempt: Callable[[], T], *, attempts: int = COMMIT_ATTEMPTS) -> T:
    """Run one commit, retrying a lost race with backoff; storage failures become a one-line LakeError.

    ``attempts=1`` for a stream of rows that cannot be read twice (delta-rs still retries the log write
    of an append itself).
    """
    global _retries
    from deltalake.exceptions import DeltaError
    from deltalake.exceptions import SchemaMismatchError as DeltaSchemaMismatch

    for n in range(1, attempts + 1):
        try:
            return attempt()
        except DeltaSchemaMismatch as exc:
            raise SchemaMismatchError(f"{uri}: {_one_line(exc)}") from None
        except (LakeError, DataError):
            raise
        except Exception as exc:
            if _is_conflict(exc) and n < attempts:
                with _retries_lock:
                    _retries += 1
                delay = _BACKOFF_S * 2 ** (n - 1) * (0.5 + random.random())
                log.info("commit conflict on %s (%s), retry %d in %.2fs", uri, what, n, delay)
                time.sleep(delay)
                continue
            engine = type(exc).__module__.startswith("pyspark")  # Spark reports store failures as its own types
            if isinstance(exc, DeltaError | OSError) or engine or _is_conflict(exc):
                raise LakeError(f"{what} {uri} failed: {_one_line(exc)}") from None
            raise
    raise AssertionError("unreachable")


def open_table(settings: Settings, uri: str) -> DeltaTable | None:
    """The Delta table at ``uri``, or None when there is none yet.

    Raises
    ------
    LakeError
        The store cannot be reached or the log cannot be read (never mistaken for "no table").
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        return DeltaTable(uri, storage_options=storage_options(settings) or None)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise LakeError(f"cannot read the lake table {uri}: {_one_line(exc)}") from None


def table_version(settings: Settings, uri: str) -> int | None:
    """The table's current version, or None when there is no table."""
    dt = open_table(settings, uri)
    return None if dt is None else dt.version()


def last_commit_ms(settings: Settings, uri: str) -> int | None:
    """When the table's newest commit was made (ms since the epoch), or None when there is no table."""
    dt = open_table(settings, uri)
    history = dt.history(1) if dt is not None else []
    return int(history[0]["timestamp"]) if history and history[0].get("timestamp") else None


def ensure_writable(settings: Settings) -> None:
    """Fail early, in one line, when a local lake cannot be created or written.

    Raises
    ------
    LakeError
        The lake folder is not writable.
    """
    if settings.lake_is_s3:
        return
    path = settings.lake
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".radlake-write-probe")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise LakeError(f"lake {path} is not writable: {exc.strerror or exc}") from None


def committed_version(settings: Settings, uri: str, app_id: str) -> int | None:
    """The last batch number ``app_id`` committed to the table (None when never, or no table)."""
    dt = open_table(settings, uri)
    return None if dt is None else dt.transaction_version(app_id)


class TableIdentity(NamedTuple):
    """A table's Delta id (new when a table is created again at the same place) and current version."""

    table_id: str
    version: int


def table_identity(settings: Settings, uri: str) -> TableIdentity | None:
    """The table's id and version, or None when there is no table."""
    dt = open_table(settings, uri)
    return None if dt is None else TableIdentity(str(dt.metadata().id), dt.version())
