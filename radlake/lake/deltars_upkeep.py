"""Table upkeep with delta-rs (Sail cannot): compaction, Z-order, checkpoints, log clean-up, vacuum, restore.

The commits of :mod:`radlake.maintenance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake.commit import _one_line, commit, open_table
from radlake.storage import filesystem, fs_path

if TYPE_CHECKING:
    from deltalake import DeltaTable


def _existing(settings: Settings, uri: str) -> DeltaTable:
    dt = open_table(settings, uri)
    if dt is None:
        raise LakeError(f"no Delta table at {uri}")
    return dt


def last_checkpoint_version(settings: Settings, uri: str) -> int | None:
    """The version of the table's newest checkpoint (``_delta_log/_last_checkpoint``), or None."""
    import json

    fs, path = filesystem(settings), f"{fs_path(settings, uri)}/_delta_log/_last_checkpoint"
    try:
        if fs is None:
            with open(path, "rb") as fh:
                return int(json.loads(fh.read())["version"])
        with fs.open_input_stream(path) as stream:
            return int(json.loads(stream.read())["version"])
    except (OSError, KeyError, ValueError):
        return None


def rewrite_small_files(
    settings: Settings,
    uri: str,
    partitions: Sequence[tuple[tuple[str, str], ...]],
    *,
    target_size: int,
    zorder_by: Sequence[str] = (),
) -> None:
    """Rewrite the small files of ``partitions`` into files of about ``target_size`` (Z-ordered if asked).

    Compaction is one commit for the table; Z-order one per partition (delta-rs Z-orders what a filter
    selects). Both rewrite the same rows: readers of any version see what they saw before. A rewrite that
    meets a concurrent commit on the same files is planned again (retried).
    """
    if not zorder_by:
        commit(uri, "compact", lambda: _existing(settings, uri).optimize.compact(target_size=target_size))
        return
    for parts in partitions:
        filters = [(k, "=", v) for k, v in parts] or None

        def z_order(f: list[tuple[str, str, str]] | None = filters) -> object:
            return _existing(settings, uri).optimize.z_order(
                list(zorder_by), partition_filters=f, target_size=target_size
            )

        commit(uri, "z-order", z_order)


def set_table_properties(settings: Settings, uri: str, properties: dict[str, str]) -> None:
    """Set table properties in one commit."""
    commit(uri, "set properties of", lambda: _existing(settings, uri).alter.set_table_properties(properties))


def checkpoint(settings: Settings, uri: str) -> None:
    """Checkpoint the current version (it carries the app transactions: idempotent writers still find theirs)."""
    commit(uri, "checkpoint", lambda: _existing(settings, uri).create_checkpoint())


def clean_log(settings: Settings, uri: str) -> None:
    """Drop log entries older than the table's ``delta.logRetentionDuration`` that a checkpoint covers."""
    commit(uri, "clean the log of", lambda: _existing(settings, uri).cleanup_metadata())


def vacuum(settings: Settings, uri: str, *, retention_days: int, dry_run: bool) -> list[str]:
    """Delete data files no version of the last ``retention_days`` days references; returns them."""
    return list(
        commit(
            uri,
            "vacuum",
            lambda: _existing(settings, uri).vacuum(
                retention_hours=retention_days * 24, dry_run=dry_run, enforce_retention_duration=False
            ),
        )
    )


def restore(settings: Settings, uri: str, version: int) -> dict[str, object]:
    """Make ``version`` the table's current state in a new commit.

    Raises
    ------
    LakeError
        The version is not in the table's history, or its log or files are gone (outside retention).
    """
    dt = _existing(settings, uri)
    if not 0 <= version <= dt.version():
        raise LakeError(f"{uri} has versions 0 to {dt.version()}, not {version}")
    try:
        return dict(dt.restore(version))
    except Exception as exc:  # delta-rs names no specific error for a version past retention
        text = str(exc).lower()
        if "missing file" in text or "no files in log segment" in text or "not found" in text:
            raise LakeError(
                f"version {version} of {uri} can no longer be restored (outside the retention window): {_one_line(exc)}"
            ) from None
        raise LakeError(f"restore {uri} failed: {_one_line(exc)}") from None
