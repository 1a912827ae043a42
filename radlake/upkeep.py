"""Delta table upkeep primitives (delta-rs): rewrite small files, checkpoint, clean the log, vacuum, restore.

The policy (which tables, when, with which retention) is :mod:`radlake.maintenance`; these are the commits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake import open_table, storage_options


def _filesystem(settings: Settings) -> tuple[Any, str]:
    """A pyarrow filesystem for the lake and the prefix to strip from its URIs."""
    if not settings.lake_is_s3:
        from pyarrow.fs import LocalFileSystem

        return LocalFileSystem(), ""
    from pyarrow.fs import S3FileSystem

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    fs = S3FileSystem(
        endpoint_override=endpoint,
        region=os.environ.get("AWS_REGION", "us-east-1"),
        scheme="http" if endpoint and endpoint.startswith("http://") else "https",
    )
    return fs, "s3://"


def list_dir(settings: Settings, uri: str) -> list[str]:
    """Names of the folders directly below ``uri`` (empty when there is none)."""
    from pyarrow.fs import FileSelector, FileType

    fs, prefix = _filesystem(settings)
    infos = fs.get_file_info(FileSelector(uri.removeprefix(prefix), allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == FileType.Directory)


def list_sizes(settings: Settings, uri: str) -> dict[str, int]:
    """Size of every file directly below ``uri`` (empty when there is none)."""
    from pyarrow.fs import FileSelector, FileType

    fs, prefix = _filesystem(settings)
    infos = fs.get_file_info(FileSelector(uri.removeprefix(prefix), allow_not_found=True))
    return {i.base_name: int(i.size or 0) for i in infos if i.type == FileType.File}


def last_checkpoint_version(settings: Settings, uri: str) -> int | None:
    """The version of the table's newest checkpoint (``_delta_log/_last_checkpoint``), or None."""
    fs, prefix = _filesystem(settings)
    try:
        with fs.open_input_stream(f"{uri.removeprefix(prefix)}/_delta_log/_last_checkpoint") as fh:
            return int(json.loads(fh.read())["version"])
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return None


def _table(settings: Settings, uri: str):
    dt = open_table(settings, uri)
    if dt is None:
        raise LakeError(f"no Delta table at {uri}")
    return dt


def rewrite_small_files(
    settings: Settings,
    uri: str,
    partitions: Sequence[tuple[tuple[str, str], ...]],
    *,
    target_size: int,
    zorder_by: Sequence[str] = (),
) -> None:
    """Rewrite the small files of ``partitions`` into files of about ``target_size`` (Z-ordered if asked).

    Compaction is one commit for the table; Z-order is one commit per partition (delta-rs Z-orders a filter).
    Both rewrite the same rows, so readers at any version see what they saw before.
    """
    dt = _table(settings, uri)
    if not zorder_by:
        dt.optimize.compact(target_size=target_size)
        return
    for parts in partitions:
        filters = [(k, "=", v) for k, v in parts] or None
        dt.optimize.z_order(list(zorder_by), partition_filters=filters, target_size=target_size)
        dt = _table(settings, uri)


def retention_properties(*, log_days: int, deleted_file_days: int) -> dict[str, str]:
    """The Delta table properties that carry the retention (honoured by delta-rs and delta-spark alike)."""
    return {
        "delta.logRetentionDuration": f"interval {log_days} days",
        "delta.deletedFileRetentionDuration": f"interval {deleted_file_days} days",
    }


def set_table_properties(settings: Settings, uri: str, properties: dict[str, str]) -> None:
    """Set table properties in one commit."""
    _table(settings, uri).alter.set_table_properties(properties)


def checkpoint(settings: Settings, uri: str) -> None:
    """Checkpoint the current version (it carries the app transactions: idempotent writers still find theirs)."""
    _table(settings, uri).create_checkpoint()


def clean_log(settings: Settings, uri: str) -> None:
    """Drop log entries older than the table's ``delta.logRetentionDuration`` that a checkpoint covers."""
    _table(settings, uri).cleanup_metadata()


def vacuum(settings: Settings, uri: str, *, retention_days: int, dry_run: bool) -> list[str]:
    """Delete data files no version of the last ``retention_days`` days references; returns them."""
    dt = _table(settings, uri)
    return list(dt.vacuum(retention_hours=retention_days * 24, dry_run=dry_run, enforce_retention_duration=False))


def restore(settings: Settings, uri: str, version: int) -> dict[str, Any]:
    """Restore the table to ``version`` in a new commit.

    Raises
    ------
    LakeError
        The version is not in the table's history, or its files were vacuumed.
    """
    dt = _table(settings, uri)
    if not 0 <= version <= dt.version():
        raise LakeError(f"{uri} has versions 0 to {dt.version()}, not {version}")
    try:
        open_table_at = type(dt)(uri, version=version, storage_options=storage_options(settings) or None)
        open_table_at.to_pyarrow_dataset()
        return dict(dt.restore(version))
    except Exception as exc:  # delta-rs raises generic errors for a version outside the retention window
        raise LakeError(
            f"version {version} of {uri} can no longer be restored (outside the retention window): {type(exc).__name__}"
        ) from None
