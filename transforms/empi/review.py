"""Steward work: the review queue of uncertain pairs, and the link / never-link decisions stewards return.

``silver/empi_decisions`` (the decision in force per pair, ``record_id_a < record_id_b``, upserted by
:func:`transforms.empi.store.save_decisions`; earlier decisions are in the table's history):

============  =========================================================================================
record_id_a   one record of the pair
record_id_b   the other
decision      ``link`` (one person, whatever the model says) or ``never_link`` (never one person)
decided_by    the steward (the person)
decided_at    when (UTC)
note          why, in the steward's words (may be empty)
============  =========================================================================================

Review queue (exported for stewards, one row per pair of persons): ``record_id_a``, ``record_id_b``,
``empi_id_a``, ``empi_id_b``, ``match_probability``, ``reason`` (``review_band``: probability between the
review and auto-link thresholds; ``guard:<name>``: scored above auto-link but refused by a guard),
``records_affected`` (the records of both persons: what a ``link`` decision would move into one person),
``name_a``, ``name_b``, ``birth_date_a``, ``birth_date_b``, and an empty ``decision`` column for the steward.

The queue holds only what a steward can decide and what a decision changes: pairs already in one person,
pairs already decided, and pairs the records themselves settle as two persons (two different trusted ID
numbers, given names that cannot be one name, birth dates a generation apart) are left out; of several pairs
between the same two persons only the strongest is asked, since one decision settles them all. The largest
decisions come first (most records affected), then the strongest evidence.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from radlake import catalog
from radlake.errors import DataError
from transforms.empi.birth_dates import GENERATION_YEARS
from transforms.empi.guards import given_names_conflict

__all__ = [
    "DECISION_COLUMNS",
    "REVIEW_COLUMNS",
    "DecisionError",
    "carry_forward",
    "decisions_from_review",
    "latest_decisions",
    "review_queue",
]

DECISION_COLUMNS = ("record_id_a", "record_id_b", "decision", "decided_by", "decided_at")
REVIEW_COLUMNS: tuple[str, ...] = tuple(catalog.schemas.EMPI_REVIEW_QUEUE.names)
DECISIONS = ("link", "never_link")


class DecisionError(DataError):
    """A steward decision row that cannot be used (the message names the row and the reason)."""


def empty_decisions() -> pd.DataFrame:
    """An empty ``silver/empi_decisions`` frame with its columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})


def latest_decisions(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The decision in force for each unordered pair: the latest one (by ``decided_at``, then row order).

    Parameters
    ----------
    decisions
        ``silver/empi_decisions`` rows (or ``None``).

    Returns
    -------
    pandas.DataFrame
        :data:`DECISION_COLUMNS` with ``record_id_a < record_id_b``, one row per pair.

    Raises
    ------
    DecisionError
        If a row lacks a record id or has a decision other than ``link``/``never_link``.
    """
    if decisions is None or decisions.empty:
        return empty_decisions()
    missing = [c for c in ("record_id_a", "record_id_b", "decision") if c not in decisions.columns]
    if missing:
        raise DecisionError(f"steward decisions lack column(s) {', '.join(missing)}")
    frame = decisions.reset_index(drop=True).copy()
    for column in ("decided_by", "decided_at"):
        if column not in frame.columns:
            frame[column] = None
    for i, row in enumerate(frame.itertuples(index=False), start=2):  # as the CSV counts: row 1 is the header
        if not isinstance(row.record_id_a, str) or not isinstance(row.record_id_b, str) or not row.record_id_a:
            raise DecisionError(f"steward decision row {i}: record_id_a and record_id_b are required")
        if row.record_id_a == row.record_id_b:
            raise DecisionError(f"steward decision row {i}: a record cannot be paired with itself")
        if row.decision not in DECISIONS:
            raise DecisionError(f"steward decision row {i}: decision must be link or never_link, got {row.decision!r}")
    a = frame[["record_id_a", "record_id_b"]].min(axis=1)
    b = frame[["record_id_a", "record_id_b"]].max(axis=1)
    frame["record_id_a"], frame["record_id_b"] = a, b
    frame["_order"] = range(len(frame))
    when = pd.to_datetime(frame["decided_at"], utc=True, errors="coerce")
    frame["_when"] = when.fillna(pd.Timestamp.min.tz_localize("UTC"))
    frame = frame.sort_values(["_when", "_order"], kind="stable").drop_duplicates(
        ["record_id_a", "record_id_b"], keep="last"
    )
    return frame[list(DECISION_COLUMNS)].reset_index(drop=True)


def review_queue(
    candidates: pd.DataFrame,
    features: pd.DataFrame,
    empi_ids: list[str],
    decisions: pd.DataFrame,
) -> pd.DataFrame:
    """The pairs a steward should look at: uncertain, or strong but refused by a guard, and undecided.

    Parameters
    ----------
    candidates
        Pairs (``rid_l``, ``rid_r``, ``match_probability``, ``reason``) with row positions into ``features``.
    features
        The feature frame (``record_id``, ``name_norm``, ``birth_date``).
    empi_ids
        The empi_id of each record after this run.
    decisions
        Decisions in force (:func:`latest_decisions`); decided pairs are left out.

    Returns
    -------
    pandas.DataFrame
        :data:`REVIEW_COLUMNS`, pairs whose records are in different persons, strongest first.
    """
    if candidates.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REVIEW_COLUMNS})
    ids = pd.Series(empi_ids, dtype=object)
    left, right = candidates["rid_l"].to_numpy(), candidates["rid_r"].to_numpy()
    rec = features["record_id"].to_numpy()
    queue = pd.DataFrame(
        {
            "record_id_a": rec[left],
            "record_id_b": rec[right],
            "empi_id_a": ids.to_numpy()[left],
            "empi_id_b": ids.to_numpy()[right],
            "match_probability": candidates["match_probability"].to_numpy(),
            "reason": candidates["reason"].to_numpy(),
            "name_a": features["name_norm"].to_numpy()[left],
            "name_b": features["name_norm"].to_numpy()[right],
            "birth_date_a": features["birth_date"].to_numpy()[left],
            "birth_date_b": features["birth_date"].to_numpy()[right],
            "decision": None,
        }
    )
    queue = queue[(queue["empi_id_a"] != queue["empi_id_b"]).to_numpy() & ~_settled_apart(features, left, right)]
    swap = queue["record_id_a"] > queue["record_id_b"]
    for a, b in (("record_id_a", "record_id_b"), ("empi_id_a", "empi_id_b"), ("name_a", "name_b"),
                 ("birth_date_a", "birth_date_b")):  # fmt: skip
        queue.loc[swap, [a, b]] = queue.loc[swap, [b, a]].to_numpy()
    if not decisions.empty:
        decided = decisions.set_index(["record_id_a", "record_id_b"]).index
        queue = queue[~queue.set_index(["record_id_a", "record_id_b"]).index.isin(decided)]
    return _one_per_pair_of_persons(queue, ids)


def _settled_apart(features: pd.DataFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pairs whose own records say two persons, whatever a steward would see: nothing to ask."""
    id18 = features["id18"].to_numpy(dtype=object)
    ids_differ = pd.notna(id18[left]) & pd.notna(id18[right]) & (id18[left] != id18[right])
    given = features["given_py"].to_numpy(dtype=object)
    names_differ = np.fromiter(
        (given_names_conflict(a, b) for a, b in zip(given[left].tolist(), given[right].tolist(), strict=True)),
        dtype=bool,
        count=len(left),
    )
    years = features["birth_year"].to_numpy(dtype="float64", na_value=np.nan)
    generations = np.abs(years[left] - years[right]) >= GENERATION_YEARS  # NaN compares False
    return np.asarray(ids_differ | names_differ | generations, dtype=bool)


def _one_per_pair_of_persons(queue: pd.DataFrame, empi_ids: pd.Series) -> pd.DataFrame:
    """The strongest pair between each two persons, with the records a decision affects; largest first."""
    sizes = empi_ids.value_counts()
    queue = queue.assign(
        records_affected=(queue["empi_id_a"].map(sizes).fillna(1) + queue["empi_id_b"].map(sizes).fillna(1)).astype(
            "int64"
        )
    )
    low = queue[["empi_id_a", "empi_id_b"]].min(axis=1)
    high = queue[["empi_id_a", "empi_id_b"]].max(axis=1)
    queue = queue.assign(_low=low, _high=high)
    queue = queue.sort_values(["match_probability", "record_id_a"], ascending=[False, True], kind="stable")
    queue = queue.drop_duplicates(["_low", "_high"])
    queue = queue.sort_values(["records_affected", "match_probability", "record_id_a"],
                              ascending=[False, False, True], kind="stable")  # fmt: skip
    return queue[list(REVIEW_COLUMNS)].reset_index(drop=True)


def carry_forward(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    empi_of: dict[str, str],
    decisions: pd.DataFrame,
    *,
    persons: pd.Series | None = None,
) -> pd.DataFrame:
    """Add the previous queue's pairs that are still open to this run's queue.

    Parameters
    ----------
    previous
        The previous review queue (:data:`REVIEW_COLUMNS`).
    current
        This run's queue; its rows win for pairs in both.
    empi_of
        empi_id of every current record.
    decisions
        Decisions in force; decided pairs leave the queue.
    persons
        The empi_id of every record of the persons either queue names (their sizes); default: the values of
        ``empi_of`` (when it holds every current record).

    Returns
    -------
    pandas.DataFrame
        :data:`REVIEW_COLUMNS`, strongest first; pairs whose records vanished or now share a person are gone.
    """
    old = previous.reindex(columns=list(REVIEW_COLUMNS)).copy()
    old["empi_id_a"] = old["record_id_a"].map(empi_of)
    old["empi_id_b"] = old["record_id_b"].map(empi_of)
    old = old.dropna(subset=["empi_id_a", "empi_id_b"])
    old = old[old["empi_id_a"] != old["empi_id_b"]]
    if not decisions.empty:
        decided = decisions.set_index(["record_id_a", "record_id_b"]).index
        old = old[~old.set_index(["record_id_a", "record_id_b"]).index.isin(decided)]
    parts = [frame for frame in (current, old) if len(frame)]
    if not parts:
        return current[list(REVIEW_COLUMNS)].reset_index(drop=True)
    both = pd.concat(parts, ignore_index=True).drop_duplicates(["record_id_a", "record_id_b"])
    if persons is None:
        persons = pd.Series(list(empi_of.values()), dtype=object)
    return _one_per_pair_of_persons(both, persons)


def decisions_from_review(
    reviewed: pd.DataFrame,
    *,
    decided_by: str,
    decided_at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Turn a review queue a steward filled in into decision rows (rows left blank are skipped).

    Parameters
    ----------
    reviewed
        The exported queue with a ``decision`` column holding ``link``, ``never_link`` or nothing.
    decided_by
        Who decided.
    decided_at
        When (default: now, UTC).

    Returns
    -------
    pandas.DataFrame
        :data:`DECISION_COLUMNS` rows.

    Raises
    ------
    DecisionError
        If a columns is missing or a decision is neither ``link`` nor ``never_link`` (naming the row).
    """
    for column in ("record_id_a", "record_id_b", "decision"):
        if column not in reviewed.columns:
            raise DecisionError(f"the reviewed file has no {column} column")
    when = decided_at or dt.datetime.now(dt.UTC)
    rows = []
    for i, row in enumerate(reviewed.itertuples(index=False), start=2):  # row 1 is the header
        value = row.decision
        if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
            continue
        decision = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        if decision not in DECISIONS:
            raise DecisionError(f"row {i}: decision must be link or never_link, got {value!r}")
        rows.append((str(row.record_id_a), str(row.record_id_b), decision, decided_by, when))
    frame = pd.DataFrame(rows, columns=list(DECISION_COLUMNS))
    frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True)
    return frame
