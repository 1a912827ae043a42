"""Materialisation metadata every asset reports: row counts, Delta version, and a small preview."""

from __future__ import annotations

import dataclasses
from typing import Any

import dagster as dg

from radlake import lake
from radlake.config import Settings


def table_metadata(settings: Settings, uri: str, *, preview_columns: list[str] | None = None) -> dict[str, Any]:
    """Rows, Delta version and path of a lake table, plus a preview of non-personal columns."""
    dt = lake.open_table(settings, uri)
    if dt is None:
        return {"path": dg.MetadataValue.path(uri), "dagster/row_count": 0}
    data = lake.read_arrow(settings, uri, columns=preview_columns)
    meta: dict[str, Any] = {
        "path": dg.MetadataValue.path(uri),
        "delta_version": dt.version(),
        "dagster/row_count": data.num_rows if data is not None else 0,
    }
    if preview_columns and data is not None and data.num_rows:
        meta["preview"] = dg.MetadataValue.md(data.slice(0, 5).to_pandas().to_markdown(index=False))
    return meta


def report_metadata(report: Any) -> dict[str, Any]:
    """A library report (a dataclass of counts and figures) as flat Dagster metadata."""
    if not dataclasses.is_dataclass(report):
        return {}
    out: dict[str, Any] = {}
    for key, value in dataclasses.asdict(report).items():  # type: ignore[arg-type]
        if isinstance(value, int | float | str | bool) or value is None:
            out[key] = value
        elif isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
            out.update({f"{key}.{k}": v for k, v in value.items()})
    return out
