"""The steward decisions table (silver/exam_name_decisions) and the name map, read and written through the lake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings
from transforms.exam_names.decisions import Decision

DECISIONS = catalog.table("silver", "exam_name_decisions")
DECISIONS_SCHEMA = DECISIONS.schema
"""Schema of silver/exam_name_decisions (the catalog's): the decision in force per (institution, raw_name);
institution ``*`` is global. Who decided, when and why: the catalog's audit columns, as on every decisions table."""


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
                "decided_by": d.steward,
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
            # ``steward``: the column's name before decisions tables shared their audit columns.
            steward=r.get("decided_by") or r.get("steward") or "",
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
    """Upsert decisions by (institution, raw_name): a new decision on a name replaces the one in force.

    Returns
    -------
    int
        The number of decisions written.
    """
    if not decisions:
        return 0
    # The last decision on a key within one import wins.
    latest = list({d.key: d for d in decisions}.values())
    return lake.upsert(settings, uri or decisions_uri(settings), decisions_to_arrow(latest), DECISIONS.keys)


def read_name_map(settings: Settings, uri: str | None = None) -> list[dict[str, object]]:
    """Rows of silver/exam_name_map as dicts (empty when the table does not exist yet)."""
    table = lake.read_arrow(settings, uri or name_map_uri(settings))
    return [] if table is None else table.to_pylist()
