"""Lake upkeep: compaction, Z-order, checkpoints, log clean-up and vacuum of every Delta table, per retention.

Streaming writers (a CDC sync every 30 s, a DICOM watch folder every tick) leave one small file and one log
entry per commit. Upkeep rewrites small files into few large ones, checkpoints the log so readers stop
replaying thousands of JSON entries, drops log entries past ``retention.log_days`` and deletes data files that
no version of the last ``retention.deleted_file_days`` needs. Live rows are never touched: every step is a
rewrite of the same rows or a deletion of files no snapshot in the window references.

Each step runs only when it has work (a partition with two or more small files, a version past the last
checkpoint, a file past retention), so a second run changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake import Lake

if TYPE_CHECKING:
    from deltalake import DeltaTable

LAYERS: tuple[catalog.Layer, ...] = ("bronze", "silver", "audit")


@dataclass
class TableUpkeep:
    """What upkeep found and did on one table (before/after figures, steps taken, seconds)."""

    table: str
    version_before: int = 0
    version_after: int = 0
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    log_files_before: int = 0
    log_files_after: int = 0
    log_bytes_before: int = 0
    log_bytes_after: int = 0
    partitions_rewritten: int = 0
    files_vacuumed: int = 0
    steps: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for Dagster metadata and JSON."""
        return asdict(self)


def lake_tables(settings: Settings) -> list[str]:
    """Every Delta table of the lake as ``layer/name``: the catalog's tables and each captured source's."""
    return sorted(table.key for layer in LAYERS for table in Lake(settings).layer_tables(layer))


def _spec(key: str) -> catalog.TableSpec | None:
    layer, _, name = key.partition("/")
    try:
        return catalog.table(layer, name)  # type: ignore[arg-type]
    except KeyError:
        return None  # a CDC table: no Z-order, ordinary retention


def retention_properties(*, log_days: int, deleted_file_days: int) -> dict[str, str]:
    """The Delta table properties that carry the retention (honoured by delta-rs and delta-spark alike)."""
    return {
        "delta.logRetentionDuration": f"interval {log_days} days",
        "delta.deletedFileRetentionDuration": f"interval {deleted_file_days} days",
    }


def _log_size(settings: Settings, uri: str) -> tuple[int, int]:
    sizes = lake.list_sizes(settings, f"{uri}/_delta_log")
    return len(sizes), sum(sizes.values())


def _data_files(dt: DeltaTable) -> list[tuple[tuple[tuple[str, str], ...], int]]:
    """(partition values, size) of every live data file."""
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    out = []
    for a in actions:
        parts = tuple(
            sorted((k.removeprefix("partition."), str(v)) for k, v in a.items() if k.startswith("partition."))
        )
        out.append((parts, int(a["size_bytes"])))
    return out


def _partitions_to_rewrite(files: Iterable[tuple[tuple[tuple[str, str], ...], int]], target: int) -> list:
    """Partitions holding two or more files smaller than ``target``: the only ones a rewrite improves."""
    small: dict[tuple[tuple[str, str], ...], int] = {}
    for parts, size in files:
        if size < target:
            small[parts] = small.get(parts, 0) + 1
    return sorted(p for p, n in small.items() if n >= 2)


def _log_retention_days(settings: Settings, key: str) -> int:
    spec = _spec(key)
    audit = spec is not None and (spec.name.endswith("_decisions") or spec.layer == "audit")
    return settings.retention.audit_log_days if audit else settings.retention.log_days


def maintain_table(settings: Settings, key: str, *, dry_run: bool = False) -> TableUpkeep:
    """Compact (or Z-order), checkpoint, clean the log and vacuum one table.

    Parameters
    ----------
    key
        ``layer/name`` (see :func:`lake_tables`).
    dry_run
        Report what would be done; write nothing.

    Raises
    ------
    LakeError
        No Delta table at ``key``.
    """
    started = time.perf_counter()
    table = Lake(settings).at(key)
    uri = table.uri  # upkeep: the one caller of radlake.lake.deltars_upkeep
    dt = table.delta()
    if dt is None:
        raise LakeError(f"no Delta table {key} in the lake")
    report = TableUpkeep(table=key, version_before=dt.version())
    files = _data_files(dt)
    report.files_before, report.bytes_before = len(files), sum(s for _, s in files)
    report.log_files_before, report.log_bytes_before = _log_size(settings, uri)

    # Properties first: the checkpoint written last then carries them and the rewrites.
    log_days = _log_retention_days(settings, key)
    properties = retention_properties(log_days=log_days, deleted_file_days=settings.retention.deleted_file_days)
    if any(dt.metadata().configuration.get(k) != v for k, v in properties.items()):
        report.steps.append("set retention properties")
        if not dry_run:
            lake.set_table_properties(settings, uri, properties)

    target = settings.retention.target_file_mb * 1024 * 1024
    partitions = _partitions_to_rewrite(files, target)
    spec = _spec(key)
    columns = {f.name for f in dt.schema().fields}
    zorder = tuple(c for c in spec.zorder_by if c in columns) if spec is not None else ()
    if partitions:
        report.partitions_rewritten = len(partitions)
        report.steps.append(f"{'z-order' if zorder else 'compact'} {len(partitions)} partition(s)")
        if not dry_run:
            lake.rewrite_small_files(settings, uri, partitions, target_size=target, zorder_by=zorder)

    # Vacuum before the checkpoint: a vacuum that deletes files commits, and the checkpoint must be the last
    # version or the next run would find work again.
    days = settings.retention.deleted_file_days
    doomed = lake.vacuum(settings, uri, retention_days=days, dry_run=True)
    if doomed:
        report.files_vacuumed = len(doomed)
        report.steps.append(f"vacuum {len(doomed)} file(s)")
        if not dry_run:
            lake.vacuum(settings, uri, retention_days=days, dry_run=False)

    dt = table.delta() or dt
    if lake.last_checkpoint_version(settings, uri) != dt.version():
        report.steps.append(f"checkpoint v{dt.version()}")
        if not dry_run:
            lake.checkpoint(settings, uri)
    if not dry_run:
        # Not a commit: entries past the log retention go as they expire, even on a table nobody writes.
        lake.clean_log(settings, uri)

    if not dry_run:
        dt = table.delta() or dt
        files = _data_files(dt)
    report.version_after = dt.version() if not dry_run else report.version_before
    report.files_after, report.bytes_after = len(files), sum(s for _, s in files)
    report.log_files_after, report.log_bytes_after = _log_size(settings, uri)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def maintain(settings: Settings, tables: Iterable[str] | None = None, *, dry_run: bool = False) -> list[TableUpkeep]:
    """Upkeep of the named tables (default: every table of the lake), one after the other.

    Raises
    ------
    LakeError
        A named table does not exist, or the lake holds no table at all.
    """
    keys = list(tables) if tables else lake_tables(settings)
    if not keys:
        # An empty report and exit 0 read as "all tidy" when the wrong lake (or no config) was used.
        hint = "" if settings.config_path else " (no radlake.yaml found: pass --config or set RADLAKE_CONFIG)"
        raise LakeError(f"no Delta tables in the lake {settings.lake}: nothing to maintain{hint}")
    return [maintain_table(settings, key, dry_run=dry_run) for key in keys]


def restore(settings: Settings, key: str, version: int) -> dict[str, Any]:
    """Make version ``version`` of a table its current state again (a new commit; history is kept).

    Raises
    ------
    LakeError
        No such table, or the version is outside the retention window (its log or files are gone).
    """
    table = Lake(settings).at(key)
    if not table.exists():
        raise LakeError(f"no Delta table {key} in the lake")
    return lake.restore(settings, table.uri, version)


def table_history(settings: Settings, key: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` commits of a table (version, timestamp, operation), newest first.

    Raises
    ------
    LakeError
        No such table.
    """
    dt = Lake(settings).at(key).delta()
    if dt is None:
        raise LakeError(f"no Delta table {key} in the lake")
    return dt.history(limit)
