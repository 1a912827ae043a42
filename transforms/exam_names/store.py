"""The steward decisions table (silver/exam_name_decisions) and the name map, read and written through the lake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake, Table
from transforms.exam_names.decisions import Decision

DECISIONS = catalog.table("silver", "exam_name_decisions")
DECISIONS_SCHEMA = DECISIONS.schema
"""Schema of silver/exam_name_decisions (the catalog's): the decision in force per (institution, raw_name);
institution ``*`` is global. Who decided, when and why: the catalog's audit columns, as on every decisions table."""


def decisions_uri(settings: Settings) -> str:
    """Where silver/exam_name_decisions lives (for messages)."""
    return Lake(settings).table(DECISIONS).uri


def name_map(settings: Settings) -> Table:
    """The handle of silver/exam_name_map."""
    return Lake(settings).table("silver", "exam_name_map")


def name_map_uri(settings: Settings) -> str:
    """Where silver/exam_name_map lives (for messages)."""
    return name_map(settings).uri


def decision_rows(decisions: Sequence[Decision]) -> list[dict[str, object]]:
    """Decisions as rows of silver/exam_name_decisions (the table's handle conforms them)."""
    now = datetime.now(UTC)
    return [
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
    ]


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


def read_decisions(settings: Settings) -> list[Decision]:
    """All steward decisions of the lake (none when the table does not exist yet)."""
    table = Lake(settings).table(DECISIONS).read_arrow()
    return [] if table is None else decisions_from_arrow(table)


def save_decisions(settings: Settings, decisions: Sequence[Decision]) -> int:
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
    return Lake(settings).table(DECISIONS).upsert(decision_rows(latest))


def read_name_map(settings: Settings) -> list[dict[str, object]]:
    """Rows of silver/exam_name_map as dicts (empty when the table does not exist yet)."""
    table = name_map(settings).read_arrow()
    return [] if table is None else table.to_pylist()
