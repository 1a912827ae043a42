"""The steward decisions table (silver/exam_name_decisions) and the name map, read and written with delta-rs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings
from transforms.exam_names.decisions import Decision

DECISIONS_SCHEMA = pa.schema(
    [
        pa.field("institution", pa.string()),
        pa.field("raw_name", pa.string()),
        pa.field("codes", pa.list_(pa.string())),
        pa.field("not_exam", pa.bool_()),
        pa.field("steward", pa.string()),
        pa.field("decided_at", pa.timestamp("us", tz="UTC")),
        pa.field("note", pa.string()),
    ]
)
"""Schema of silver/exam_name_decisions: one row per (institution, raw_name); institution ``*`` is global."""


def decisions_uri(settings: Settings) -> str:
    """Where silver/exam_name_decisions lives."""
    return catalog.table_uri(settings, catalog.table("silver", "exam_name_decisions"))


def name_map_uri(settings: Settings) -> str:
    """Where silver/exam_name_map lives."""
    return catalog.table_uri(settings, catalog.table("silver", "exam_name_map"))


def decisions_to_arrow(decisions: Sequence[Decision]) -> pa.Table:
    """Decisions as an Arrow table of :data:`DECISIONS_SCHEMA`."""
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "institution": d.institution,
                "raw_name": d.raw_name,
                "codes": list(d.codes),
                "not_exam": d.not_exam,
                "steward": d.steward,
                "decided_at": (d.decided_at or now).astimezone(UTC),
                "note": d.note,
            }
            for d in decisions
        ],
        schema=DECISIONS_SCHEMA,
    )


def decisions_from_arrow(table: pa.Table) -> list[Decision]:
    """Decisions from rows of :data:`DECISIONS_SCHEMA`."""
    return [
        Decision(
            institution=r["institution"],
            raw_name=r["raw_name"],
            codes=tuple(r["codes"] or ()),
            not_exam=bool(r["not_exam"]),
            steward=r["steward"] or "",
            decided_at=r["decided_at"],
            note=r["note"] or "",
        )
        for r in table.to_pylist()
    ]


def read_decisions(settings: Settings, uri: str | None = None) -> list[Decision]:
    """All steward decisions of the lake (none when the table does not exist yet)."""
    table = lake.read_arrow(settings, uri or decisions_uri(settings))
    return [] if table is None else decisions_from_arrow(table)


def save_decisions(settings: Settings, decisions: Sequence[Decision], uri: str | None = None) -> int:
    """Upsert decisions by (institution, raw_name): a new decision on a name replaces the old one.

    Returns
    -------
    int
        The number of decisions written.
    """
    from deltalake import write_deltalake

    if not decisions:
        return 0
    uri = uri or decisions_uri(settings)
    # The last decision on a key within one import wins.
    latest = list({d.key: d for d in decisions}.values())
    data = decisions_to_arrow(latest)
    options = lake.storage_options(settings) or None
    table = lake.open_table(settings, uri)
    if table is None:
        write_deltalake(uri, data, mode="append", storage_options=options)
        return len(latest)
    (
        table.merge(
            source=data,
            predicate="t.institution = s.institution AND t.raw_name = s.raw_name",
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return len(latest)


def read_name_map(settings: Settings, uri: str | None = None) -> list[dict[str, object]]:
    """Rows of silver/exam_name_map as dicts (empty when the table does not exist yet)."""
    table = lake.read_arrow(settings, uri or name_map_uri(settings))
    return [] if table is None else table.to_pylist()
