"""What each lake asset's dependencies and column schema are, derived from the catalog (``TableSpec.reads``,
``TableSpec.schema``, :mod:`radlake.column_tags`), never listed by hand in the asset modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from orchestration.partitions import DAY_TO_SAME_DAY
from radlake import catalog, column_tags
from radlake.config import Settings


def hl7_configured(settings: Settings) -> bool:
    """Whether an HL7 feed is set up (``hl7.allowed_facilities``): then its tables join the graph."""
    return bool(settings.hl7.allowed_facilities)


_PRESENT_WHEN: dict[str, Callable[[Settings], bool]] = {
    "bronze/hl7_messages": hl7_configured,
    "silver/hl7_orders": hl7_configured,
    "silver/hl7_patient_links": hl7_configured,
    "silver/hl7_patients": hl7_configured,
}
"""Tables that are assets only under some settings; a read of one is no dependency otherwise."""

ORDER_EDGES: dict[tuple[str, str], dg.PartitionMapping] = {
    # The explicit day link of the partitioned chain: exam day D is rebuilt after bronze has landed the DICOM
    # files that arrived on day D. Exams read the (unpartitioned) study roll-up of every landed file, so this
    # edge carries order, not data (it is no read of the catalog); without it Dagster cannot reach silver/exams
    # from the bronze days through the unpartitioned roll-ups, and a backfill of bronze → silver → gold
    # silently leaves silver/exams out (issue 33). Images arriving after their exam day are picked up by the
    # nightly run, which rebuilds the last ``schedule.refresh_days`` days.
    ("silver/exams", "bronze/dicom_instances"): DAY_TO_SAME_DAY,
}
"""(child, parent) dependencies that are no read of the table, with the partition mapping they carry."""


def ris_deps(settings: Settings, tables: tuple[str, ...]) -> list[dg.AssetKey]:
    """The silver CDC tables (or whole-source assets) that hold these RIS tables, in every configured source."""
    deps: list[dg.AssetKey] = []
    for source, cfg in settings.sources.items():
        if cfg.tables == ["*"]:
            deps.append(dg.AssetKey(["bronze", source]))
        else:
            deps += [dg.AssetKey(["silver", catalog.cdc_table_name(source, t)]) for t in tables if t in cfg.tables]
    return deps


def read_keys(settings: Settings, spec: catalog.TableSpec) -> list[dg.AssetKey]:
    """The asset keys of what the catalog says ``spec``'s writer reads, under these settings (deduplicated)."""
    keys: list[dg.AssetKey] = []
    for read in spec.reads:
        kind, _, ris_table = read.partition(":")
        if kind == "ris":
            found = ris_deps(settings, (ris_table,))
        elif _PRESENT_WHEN.get(read, lambda _s: True)(settings):
            found = [dg.AssetKey(read.split("/"))]
        else:
            found = []
        keys += [k for k in found if k not in keys]
    return keys


def lake_deps(settings: Settings, spec: catalog.TableSpec) -> list[dg.AssetDep]:
    """The dependencies of the asset that writes ``spec``: its reads, then its order edges (with their mapping)."""
    deps = [dg.AssetDep(key) for key in read_keys(settings, spec)]
    for (child, parent), mapping in ORDER_EDGES.items():
        if child == spec.key:
            deps.append(dg.AssetDep(dg.AssetKey(parent.split("/")), partition_mapping=mapping))
    return deps


def column_schema(spec: catalog.TableSpec) -> dg.TableSchema:
    """The table's columns as Dagster's ``dagster/column_schema``: name, Arrow type, nullability and the
    column's personal-data tag (``privacy``)."""
    if spec.schema is None:
        raise KeyError(f"{spec.key} has no fixed schema in the catalog")
    columns = []
    for f in spec.schema:
        tag = column_tags.tag(f.name)
        columns.append(
            dg.TableColumn(
                f.name,
                type=str(f.type),
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
                tags={"privacy": tag} if tag else None,
            )
        )
    return dg.TableSchema(columns=columns)


def lake_asset_args(settings: Settings, spec: catalog.TableSpec) -> dict[str, Any]:
    """The catalog-derived arguments of the asset (or asset spec) that writes ``spec``: key, description, group,
    dependencies and column schema."""
    args: dict[str, Any] = {
        "key": [spec.layer, spec.name],
        "description": spec.description,
        "group_name": spec.layer,
        "deps": lake_deps(settings, spec),
    }
    if spec.schema is not None:
        args["metadata"] = {"dagster/column_schema": column_schema(spec)}
    return args
