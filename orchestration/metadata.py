"""Materialisation metadata every asset reports: rows, new/changed/deleted rows, Delta version, a preview."""

from __future__ import annotations

import dataclasses
from typing import Any

import dagster as dg
import pyarrow as pa

from radlake import column_tags, lake
from radlake.config import Settings

# Delta commit metrics by writer: delta-rs names them snake_case, Spark engines camelCase.
_NEW = ("numTargetRowsInserted", "num_added_rows")
_CHANGED = ("numTargetRowsUpdated",)
_DELETED = ("numTargetRowsDeleted", "num_deleted_rows")
_OVERWRITES = {"WRITE", "CREATE TABLE", "CREATE OR REPLACE TABLE", "REPLACE TABLE"}

IDENTIFIER_COLUMNS = column_tags.hidden_from("ui")
"""Columns never shown in a preview or as metadata (every UI user sees those): every column the catalog's tags
mark personal, a record key or an identifier (file paths too: PACS folders carry MRNs)."""


def table_metadata(
    settings: Settings,
    uri: str,
    *,
    since_version: int | None = None,
    preview_columns: list[str] | None = None,
) -> dict[str, Any]:
    """Rows, Delta version and path of a lake table; with ``since_version``, the rows its new commits touched.

    The preview (``preview_columns``) is shown to every UI user: columns in :data:`IDENTIFIER_COLUMNS` are
    left out of it whatever the caller asks.
    """
    dt = lake.open_table(settings, uri)
    if dt is None:
        return {"path": dg.MetadataValue.path(uri), "dagster/row_count": 0}
    counts = pa.table(dt.get_add_actions(flatten=True))["num_records"].to_pylist()
    meta: dict[str, Any] = {
        "path": dg.MetadataValue.path(uri),
        "delta_version": dt.version(),
        "dagster/row_count": sum(int(n) for n in counts if n),
    }
    if since_version is not None:
        new = changed = deleted = 0
        fresh = dt.version() - since_version
        for commit in dt.history(fresh) if fresh > 0 else []:
            if commit.get("version", -1) <= since_version:
                continue
            metrics = commit.get("operationMetrics") or {}
            new += sum(int(metrics.get(k, 0) or 0) for k in _NEW)
            if commit.get("operation") in _OVERWRITES and "numOutputRows" in metrics:
                new += int(metrics["numOutputRows"])
            changed += sum(int(metrics.get(k, 0) or 0) for k in _CHANGED)
            deleted += sum(int(metrics.get(k, 0) or 0) for k in _DELETED)
        meta.update({"new_rows": new, "changed_rows": changed, "deleted_rows": deleted})
    shown = [c for c in preview_columns or [] if c.lower() not in IDENTIFIER_COLUMNS]
    if shown:
        head = lake.head(settings, uri, shown, 5)
        if head is not None and head.num_rows:
            meta["preview"] = dg.MetadataValue.md(head.to_pandas().to_markdown(index=False))
    return meta


def partition_metadata(table_meta: dict[str, Any], rows_held: int, first: Any, last: Any) -> dict[str, Any]:
    """Metadata of a day-partitioned asset: what its days hold, not what the whole table holds.

    ``dagster/row_count`` becomes the rows of the run's days (``rows_held``; the UI plots it per partition),
    the whole table's count moves to ``table_rows``, and ``new_rows``/``changed_rows``/``deleted_rows`` stay
    what this run committed.
    """
    meta = dict(table_meta)
    meta["table_rows"] = meta.pop("dagster/row_count", 0)
    meta["dagster/row_count"] = rows_held
    meta["days"] = str(first) if first == last else f"{first}..{last}"
    return meta


def rows_by_partition(settings: Settings, uri: str, column: str, first: Any, last: Any) -> dict[str, int]:
    """Rows per value of a date partition column between ``first`` and ``last``, from the Delta log alone."""
    dt = lake.open_table(settings, uri)
    if dt is None:
        return {}
    actions = pa.table(dt.get_add_actions(flatten=True))
    out: dict[str, int] = {}
    for day, n in zip(actions[f"partition.{column}"].to_pylist(), actions["num_records"].to_pylist(), strict=True):
        if day is not None and first <= day <= last:
            out[str(day)] = out.get(str(day), 0) + int(n or 0)
    return out


def report_metadata(report: Any) -> dict[str, Any]:
    """A library report (a dataclass of counts and figures) as flat Dagster metadata."""
    if report is None or not dataclasses.is_dataclass(report):
        return {}
    out: dict[str, Any] = {}
    for key, value in dataclasses.asdict(report).items():  # type: ignore[arg-type]
        if key.lower() in IDENTIFIER_COLUMNS:
            continue
        if isinstance(value, int | float | str | bool) or value is None:
            out[key] = value
        elif isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
            out.update({f"{key}.{k}": v for k, v in value.items()})
    return out
