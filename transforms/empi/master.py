"""One run of the patient master index: records (+ previous master, steward decisions) → master, golden, events.

``silver/patient_master`` (one row per source record):

=================  =====================================================================================
record_id          ``<institution>:<mrn>``
source_system      institution code
mrn                the institution's medical record number
empi_id            the person (``E`` + 10 digits; smaller numbers were created earlier)
match_probability  probability of the link that put the record in its person (1 for ID-number and
                   steward links; null for a record alone)
link_rule          ``id_number``, ``splink``, ``steward`` or ``singleton``
linked_at          when the record got its current empi_id
=================  =====================================================================================

``silver/empi_events`` (one row per change): ``event_id``, ``event`` (``create``/``merge``/``split``),
``empi_id`` (the created, surviving or split id), ``other_empi_ids`` (merged-away ids, or the ids split
off), ``record_ids`` (records concerned), ``reason``, ``occurred_at``.

A run with a previous master is incremental: only new records (and the records of a person a new
never-link decision splits) are compared, against everyone and each other; everyone else keeps their
empi_id unless a new record's evidence merges their person with another one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from radlake import catalog
from radlake.errors import DataError
from radlake.progress import Progress, silent
from transforms.empi.clusters import EVENT_COLUMNS, RULE_RANK, assign_empi_ids, cluster_records, parse_empi_id
from transforms.empi.features import record_features
from transforms.empi.golden import build_golden
from transforms.empi.linkage import (
    LinkageConfig,
    blocking_columns,
    blocking_pair_counts,
    score_links,
    train_model,
)
from transforms.empi.review import carry_forward, latest_decisions, review_queue

__all__ = ["MASTER_COLUMNS", "EmpiRun", "link_patients"]

MASTER_COLUMNS: tuple[str, ...] = tuple(catalog.schemas.PATIENT_MASTER.names)


@dataclass
class EmpiRun:
    """The outputs of one run.

    Attributes
    ----------
    master, golden, events, review
        ``silver/patient_master``, ``silver/patient_golden``, the new ``silver/empi_events`` rows and the
        steward review queue.
    model
        The trained Splink model (settings dict), to reuse in the next incremental run.
    stats
        Counts: records, new records, pairs scored, links accepted, vetoed, persons.
    timings
        Seconds spent per phase (features, blocking, train, score, cluster, ids, outputs).
    blocking
        Pairs each blocking rule brings together on its own (of the records compared in this run).
    features
        The records' features (:mod:`transforms.empi.features`), for the next run to reuse.
    """

    master: pd.DataFrame
    golden: pd.DataFrame
    events: pd.DataFrame
    review: pd.DataFrame
    model: dict[str, Any]
    stats: dict[str, int]
    timings: dict[str, float]
    blocking: dict[str, int]
    features: pd.DataFrame | None = None


@dataclass(frozen=True)
class PreviousRun:
    """What the previous run left, for an incremental run (every part may be ``None``: a first, full run).

    Attributes
    ----------
    master
        The previous ``silver/patient_master``: its empi_ids are kept.
    events
        Previous ``silver/empi_events``: ids merged away are never given again.
    review
        The previous review queue: its pairs stay queued while undecided and still in different persons
        (an incremental run only scores pairs with new records).
    features
        ``EmpiRun.features`` of the previous run: unchanged records are not parsed again.
    golden
        The previous ``silver/patient_golden``: with ``features``, only the golden records of persons whose
        records changed are rebuilt.
    """

    master: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    review: pd.DataFrame | None = None
    features: pd.DataFrame | None = None
    golden: pd.DataFrame | None = None


def _next_number(previous_master: pd.DataFrame | None, previous_events: pd.DataFrame | None) -> int:
    parts: list[pd.Series] = []
    if previous_master is not None and len(previous_master):
        parts.append(previous_master["empi_id"].dropna().astype(str))
    if previous_events is not None and len(previous_events):
        parts.append(previous_events["empi_id"].dropna().astype(str))
        others = previous_events["other_empi_ids"].dropna().explode().dropna()
        parts.append(others.astype(str))
    if not parts:
        return 1
    ids = pd.concat(parts, ignore_index=True).drop_duplicates()
    bad = ~ids.str.fullmatch(r"E\d+")
    if bad.any():
        parse_empi_id(str(ids[bad].iloc[0]))  # raises, naming the id
    return int(ids.str.slice(1).astype("int64").max()) + 1 if len(ids) else 1


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})


def link_patients(
    records: pd.DataFrame,
    *,
    previous: PreviousRun | None = None,
    decisions: pd.DataFrame | None = None,
    model: dict[str, Any] | None = None,
    config: LinkageConfig | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> EmpiRun:
    """Link patient records into persons, keeping the previous run's empi_ids stable.

    Parameters
    ----------
    records
        Every current patient record (see :mod:`transforms.empi.features` for columns); ``record_id`` unique.
    previous
        What the previous run left (master, events, review queue, features, golden records); ``None`` for a
        first, full run.
    decisions
        ``silver/empi_decisions``; always applied, the latest decision per pair wins.
    model
        A trained model from an earlier run; trained on ``records`` when ``None``.
    config
        Thresholds and engine.
    now
        Time stamp of the run (default: now, UTC).
    progress
        Where to show the phases (default: nowhere; their times are in ``EmpiRun.timings`` either way).

    Returns
    -------
    EmpiRun

    Raises
    ------
    radlake.errors.DataError
        If ``record_id`` is missing, empty or repeated, or a steward decision row is unusable.
    """
    previous = previous or PreviousRun()
    config = config or LinkageConfig()
    now = now or dt.datetime.now(dt.UTC)
    progress = progress or silent()
    with progress.phase("features", total=len(records)) as step:
        try:
            features = record_features(records, previous=previous.features)
        except ValueError as err:
            raise DataError(f"patient records: {err}") from err
        step.update(len(features))
    n = len(features)
    record_ids = features["record_id"].tolist()
    position = pd.Series(np.arange(n), index=features["record_id"])

    prev_arr = np.full(n, None, dtype=object)
    prev_rows = pd.DataFrame(columns=list(MASTER_COLUMNS))
    if previous.master is not None and len(previous.master):
        prev_rows = previous.master[previous.master["record_id"].isin(position.index)]
        prev_arr[position.reindex(prev_rows["record_id"]).to_numpy(dtype=np.int64)] = (
            prev_rows["empi_id"].astype(str).to_numpy(dtype=object)
        )
    prev_ids: list[str | None] = prev_arr.tolist()
    is_new = pd.isna(prev_arr)

    in_force = latest_decisions(decisions)
    known = in_force["record_id_a"].isin(position.index) & in_force["record_id_b"].isin(position.index)
    in_force_known = in_force[known]
    pos_a = position.reindex(in_force_known["record_id_a"]).to_numpy(dtype=np.int64)
    pos_b = position.reindex(in_force_known["record_id_b"]).to_numpy(dtype=np.int64)
    kinds = in_force_known["decision"].to_numpy()
    steward_links = [(int(a), int(b)) for a, b, k in zip(pos_a, pos_b, kinds, strict=True) if k == "link"]
    never_links = [(int(a), int(b)) for a, b, k in zip(pos_a, pos_b, kinds, strict=True) if k == "never_link"]

    # Persons a never-link decision now cuts through are re-linked from scratch (their records rescored).
    to_split, relink, initial = relink_plan(prev_arr, never_links)
    incremental = not is_new.all()

    with progress.phase("blocking") as step:
        # Computed once here for counting and scoring; kept out of the features a later run reuses.
        features = pd.concat([features, blocking_columns(features)], axis=1)
        # An incremental run blocks only the records it compares (each against everyone): count those.
        blocking = blocking_pair_counts(features, relink if incremental else None)
        for rule, count in blocking.items():
            step.note(f"{count:,} pairs on {rule}")
    with progress.phase("train") as step:
        if model is None:
            model = train_model(features, config)
        else:
            step.note("saved model reused")
    with progress.phase("score"):
        pairs = score_links(features, model, config, new=relink if incremental else None)

    with progress.phase("cluster", total=len(pairs)) as step:
        result = cluster_records(
            features,
            pairs,
            auto_link=config.auto_link,
            initial=initial,
            steward_links=steward_links,
            never_links=never_links,
            on_progress=step.update,
        )

    with progress.phase("ids"):
        accepted = result.accepted
        empi_ids, events, _ = assign_empi_ids(
            result.root,
            prev_ids,
            next_number=_next_number(previous.master, previous.events),
            record_ids=record_ids,
            occurred_at=now,
            merge_reasons=merge_reasons(accepted, result.root),
            split_reason="steward never_link" if to_split else "relinked",
        )

    with progress.phase("outputs"):
        source = records.reset_index(drop=True)
        prev_pos = position.reindex(prev_rows["record_id"]).to_numpy(dtype=np.int64)
        master = master_rows(
            MasterInputs(features["record_id"], source.get("source_system"), source.get("mrn")),
            accepted,
            empi_ids,
            prev_ids,
            prev_rows,
            prev_pos,
            now,
        )
        golden = _golden(features, master, prev_arr, previous.features, previous.golden)
        review = review_queue(review_candidates(pairs, result.vetoed, config), features, empi_ids, in_force)
        if previous.review is not None and len(previous.review):
            review = carry_forward(previous.review, review, dict(zip(record_ids, empi_ids, strict=True)), in_force)

    stats = run_stats(
        is_new, relink, blocking, pairs, accepted, result.vetoed, persons=len(set(empi_ids)), review_pairs=len(review)
    )
    return EmpiRun(
        master=master,
        golden=golden,
        events=events if len(events) else _empty_events(),
        review=review,
        model=model,
        stats=stats,
        timings=dict(progress.timings),
        blocking=blocking,
        features=features.drop(columns=["name_set", "name_rare", "birth_md", "address_block"]),
    )


def relink_plan(prev_arr: np.ndarray, never_links: list[tuple[int, int]]) -> tuple[set[str], np.ndarray, np.ndarray]:
    """Which records a run compares, and the clusters it starts from.

    Returns
    -------
    tuple
        The previous ids a new never-link decision cuts through (their persons are re-linked from scratch, their
        records rescored); the mask of records compared (new ones and those); and the starting cluster label of
        each record (the previous person's, ``-1`` for the compared ones).
    """
    is_new = pd.isna(prev_arr)
    to_split = {prev_arr[a] for a, b in never_links if prev_arr[a] is not None and prev_arr[a] == prev_arr[b]}
    relink = is_new | np.isin(prev_arr, list(to_split)) if to_split else is_new.copy()
    initial = np.full(len(prev_arr), -1, dtype=np.int64)
    keep = ~relink
    if keep.any():
        initial[keep] = pd.factorize(prev_arr[keep])[0]
    return to_split, relink, initial


def run_stats(
    is_new: np.ndarray,
    relink: np.ndarray,
    blocking: dict[str, int],
    pairs: pd.DataFrame,
    accepted: pd.DataFrame,
    vetoed: pd.DataFrame,
    *,
    persons: int,
    review_pairs: int,
) -> dict[str, int]:
    """The counts of one run (``EmpiRun.stats``)."""
    return {
        "records": len(is_new),
        "new_records": int(is_new.sum()),
        "relinked_records": int(relink.sum()),
        "pairs_blocked": int(sum(blocking.values())),
        "pairs_scored": len(pairs),
        "links_accepted": len(accepted),
        "links_vetoed": len(vetoed),
        "persons": persons,
        "review_pairs": review_pairs,
    }


def merge_reasons(accepted: pd.DataFrame, root: np.ndarray) -> dict[int, str]:
    """Why each cluster (by root) holds its records: the strongest rule among its accepted links."""
    if not len(accepted):
        return {}
    acc_root = root[accepted["rid_l"].to_numpy()]
    ranked = accepted.assign(root=acc_root, rank=accepted["rule"].map(RULE_RANK)).sort_values("rank")
    reasons: dict[int, str] = ranked.drop_duplicates("root").set_index("root")["rule"].to_dict()
    return reasons


def _golden(
    features: pd.DataFrame,
    master: pd.DataFrame,
    prev_arr: np.ndarray,
    previous_features: pd.DataFrame | None,
    previous_golden: pd.DataFrame | None,
) -> pd.DataFrame:
    """Golden records: rebuilt for persons whose records moved, arrived or changed; the others kept."""
    if previous_golden is None or previous_features is None or not len(previous_golden):
        return build_golden(features, master)
    empi = master["empi_id"].to_numpy(dtype=object)
    before = pd.Series(previous_features["fingerprint"].to_numpy(), index=previous_features["record_id"].to_numpy())
    same_input = before.reindex(features["record_id"].to_numpy()).to_numpy() == features["fingerprint"].to_numpy()
    moved = (empi != prev_arr) | ~same_input
    touched = pd.unique(np.concatenate([empi[moved], prev_arr[moved & pd.notna(prev_arr)]]))
    rebuild = pd.Series(empi).isin(touched).to_numpy()
    fresh = build_golden(features[rebuild].reset_index(drop=True), master[rebuild].reset_index(drop=True))
    old_ids = previous_golden["empi_id"]
    kept = previous_golden[~old_ids.isin(touched) & old_ids.isin(pd.unique(empi))]
    golden = pd.concat([kept[fresh.columns], fresh], ignore_index=True)
    return golden.sort_values("empi_id", kind="stable", ignore_index=True)


@dataclass(frozen=True)
class MasterInputs:
    """The per-record columns the master carries from the input, in record (row position) order."""

    record_id: Any
    source_system: Any
    mrn: Any


def review_candidates(pairs: pd.DataFrame, vetoed: pd.DataFrame, config: LinkageConfig) -> pd.DataFrame:
    """The pairs a steward may be asked about: guard-vetoed strong pairs first, then the review band.

    Returns
    -------
    pandas.DataFrame
        ``rid_l``, ``rid_r``, ``match_probability``, ``reason``.
    """
    band = pairs[
        (pairs["rule"] == "splink")
        & (pairs["match_probability"] >= config.review)
        & (pairs["match_probability"] < config.auto_link)
    ][["rid_l", "rid_r", "match_probability"]].assign(reason="review_band")
    if not len(vetoed):
        return band
    vetoed = vetoed.assign(reason="guard:" + vetoed["reason"])[["rid_l", "rid_r", "match_probability", "reason"]]
    return pd.concat([vetoed, band], ignore_index=True)


def master_rows(
    inputs: MasterInputs,
    accepted: pd.DataFrame,
    empi_ids: list[str] | np.ndarray,
    prev_ids: list[str | None] | np.ndarray,
    prev_rows: pd.DataFrame,
    prev_pos: np.ndarray,
    now: dt.datetime,
) -> pd.DataFrame:
    """``silver/patient_master`` rows: each record's person and the strongest link of this run that put it there.

    ``prev_rows`` are the previous master's rows of current records, ``prev_pos`` their row positions.
    """
    n = len(empi_ids)
    # Each record's strongest accepted link of this run: steward > id_number > splink, then probability.
    both = pd.concat(
        [
            accepted[["rid_l", "match_probability", "rule"]].rename(columns={"rid_l": "rid"}),
            accepted[["rid_r", "match_probability", "rule"]].rename(columns={"rid_r": "rid"}),
        ],
        ignore_index=True,
    )
    both["rank"] = both["rule"].map(RULE_RANK)
    best = both.sort_values(["rid", "rank", "match_probability"], ascending=[True, True, False]).drop_duplicates("rid")
    rule = np.full(n, "singleton", dtype=object)
    prob = np.full(n, np.nan)
    best_rid = best["rid"].to_numpy(dtype=np.int64)
    rule[best_rid] = best["rule"].to_numpy()
    prob[best_rid] = best["match_probability"].to_numpy(dtype=float)
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")
    linked_at = np.full(n, stamp.tz_localize(None).to_datetime64().astype("datetime64[us]"))

    empi = np.array(empi_ids, dtype=object)
    prev = np.array(prev_ids, dtype=object)
    if len(prev_rows):
        unchanged = empi[prev_pos] == prev[prev_pos]
        relinked_now = np.zeros(n, dtype=bool)
        relinked_now[best_rid] = True
        # A record whose person did not change keeps how and when it was linked; a record that moved but
        # took part in no new link keeps its previous rule and probability.
        keep_how = unchanged | ~relinked_now[prev_pos]
        for column, target in (("link_rule", rule), ("match_probability", prob)):
            if column in prev_rows.columns:
                values = prev_rows[column].to_numpy()
                target[prev_pos[keep_how]] = values[keep_how]
        if "linked_at" in prev_rows.columns:
            old_times = pd.to_datetime(prev_rows["linked_at"], utc=True).dt.tz_localize(None)
            linked_at[prev_pos[unchanged]] = old_times.astype("datetime64[us]").to_numpy()[unchanged]
    # A record whose person is just itself is a singleton whatever linked it before.
    sizes = pd.Series(empi).map(pd.Series(empi).value_counts()).to_numpy()
    rule[sizes == 1] = "singleton"
    prob[sizes == 1] = np.nan

    master = pd.DataFrame(
        {
            "record_id": inputs.record_id,
            "source_system": inputs.source_system,
            "mrn": inputs.mrn,
            "empi_id": empi,
            "match_probability": prob.astype(float),
            "link_rule": rule,
            "linked_at": pd.Series(linked_at).dt.tz_localize("UTC"),
        }
    )
    return master[list(MASTER_COLUMNS)]
