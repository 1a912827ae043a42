"""The stewards' patient-pair decisions (silver/empi_decisions), stored like the exam-name decisions.

Both decisions tables keep the decision in force per key (here the unordered pair, ``record_id_a <
record_id_b``), written by upsert: a new decision on a pair replaces the old one. Who decided, when and why
are the catalog's audit columns (``decided_by``, ``decided_at``, ``note``); earlier decisions stay readable in
the table's history (its log is kept for the audit retention).
"""

from __future__ import annotations

import pandas as pd

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake
from transforms.empi.review import latest_decisions

DECISIONS = catalog.table("silver", "empi_decisions")


def decisions_uri(settings: Settings) -> str:
    """Where silver/empi_decisions lives (for messages)."""
    return Lake(settings).table(DECISIONS).uri


def decisions_in_force(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decision rows to store: one row per pair in force, the pair ordered, ``note`` kept (the table's handle
    conforms them to the catalog's schema).

    Raises
    ------
    DecisionError
        A row lacks a record id or has a decision other than ``link``/``never_link``.
    """
    in_force = latest_decisions(decisions)
    notes = decisions.get("note")
    if notes is not None:
        # The note of the row in force, found by its (ordered) pair.
        ordered = decisions.assign(
            _a=decisions[["record_id_a", "record_id_b"]].min(axis=1),
            _b=decisions[["record_id_a", "record_id_b"]].max(axis=1),
        ).drop_duplicates(["_a", "_b"], keep="last")
        by_pair = dict(zip(zip(ordered["_a"], ordered["_b"], strict=True), ordered["note"], strict=True))
        in_force["note"] = [by_pair.get(p) for p in zip(in_force["record_id_a"], in_force["record_id_b"], strict=True)]
    else:
        in_force["note"] = None
    in_force["decided_at"] = pd.to_datetime(in_force["decided_at"], utc=True)
    return in_force


def save_decisions(settings: Settings, decisions: pd.DataFrame) -> int:
    """Upsert steward decisions by pair: a new decision on a pair replaces the one in force.

    Returns
    -------
    int
        The number of pairs written.
    """
    if decisions.empty:
        return 0
    return Lake(settings).table(DECISIONS).upsert(decisions_in_force(decisions))
