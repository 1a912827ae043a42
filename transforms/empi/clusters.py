"""Records → persons: connected components under never-link constraints, with ids stable across runs.

:func:`cluster_records` joins records greedily, strongest evidence first (steward links, then equal ID
numbers, then Splink pairs by falling probability), and refuses any join that would put into one person

- two different trusted ID numbers (twins, parent and child: each person has one number),
- two given names that conflict (思雨 and 思雪; a missing character is no conflict),
- birth dates of which no pair could be one date typed twice (parent and child),
- different sexes without a given name in common (a twin's record missing a character), or
- two records a steward marked ``never_link``.

:func:`assign_empi_ids` then gives each cluster an id, keeping the previous run's ids: a cluster holding the
records of one previous id keeps it; when clusters merge the oldest id (the smallest number) survives; when a
previous cluster is split (a steward's never-link, or records re-linked elsewhere) the part with most of its
records keeps the id. Every create, merge and split is returned as an event row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.empi._grouping import lists_by_key
from transforms.empi.guards import birth_dates_consistent, given_names_conflict, sexes_conflict

__all__ = [
    "EVENT_COLUMNS",
    "ClusterResult",
    "assign_empi_ids",
    "cluster_records",
    "format_empi_id",
    "parse_empi_id",
]

EVENT_COLUMNS = ("event_id", "event", "empi_id", "other_empi_ids", "record_ids", "reason", "occurred_at")
RULE_RANK = {"steward": 0, "id_number": 1, "splink": 2}
# No person has this many registrations; a cluster that grows past it is absorbing strangers.
MAX_CLUSTER_SIZE = 64


def format_empi_id(number: int) -> str:
    """The empi_id text of a sequence number (``E0000000042``); ids sort in the order they were created."""
    return f"E{number:010d}"


def parse_empi_id(empi_id: str) -> int:
    """The sequence number of an empi_id (``E0000000042`` → 42).

    Raises
    ------
    ValueError
        If the text is not an empi_id.
    """
    if not empi_id.startswith("E") or not empi_id[1:].isdigit():
        raise ValueError(f"not an empi_id: {empi_id!r}")
    return int(empi_id[1:])


@dataclass
class ClusterResult:
    """Clusters of one run.

    Attributes
    ----------
    root
        For each record (row position), the position of its cluster's representative record.
    accepted
        The pairs that joined clusters (:data:`transforms.empi.linkage.PAIR_COLUMNS`).
    vetoed
        Pairs at or above the link threshold a guard refused, with the guard's name in ``reason``.
    """

    root: np.ndarray
    accepted: pd.DataFrame
    vetoed: pd.DataFrame = field(default_factory=pd.DataFrame)


class _Clusters:
    """Union-find keeping each cluster's members, so guards can look at every record in it."""

    def __init__(
        self,
        n: int,
        id18: Sequence[str | None],
        given: Sequence[str | None],
        birth: Sequence[dt.date | None],
        sex: Sequence[str | None],
    ) -> None:
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {}
        self.id18 = id18
        self.given = given
        self.birth = birth
        self.sex = sex
        self.never: dict[int, set[int]] = defaultdict(set)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def members_of(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def union(self, a: int, b: int) -> int:
        ma, mb = self.members_of(a), self.members_of(b)
        if len(ma) < len(mb):
            a, b, ma, mb = b, a, mb, ma
        self.parent[b] = a
        self.members[a] = ma + mb
        self.members.pop(b, None)
        return a

    def guard(self, a: int, b: int) -> str | None:
        """Why clusters ``a`` and ``b`` (roots) must stay apart, or ``None``."""
        ma, mb = self.members_of(a), self.members_of(b)
        if len(ma) + len(mb) > MAX_CLUSTER_SIZE:
            return "cluster_size"
        never = self.never
        if never and any(x in never and not never[x].isdisjoint(mb) for x in ma):
            return "never_link"
        ids_a = {self.id18[x] for x in ma} - {None}
        ids_b = {self.id18[x] for x in mb} - {None}
        if ids_a and ids_b and ids_a.isdisjoint(ids_b):
            return "id_number"
        given_a = {g for x in ma if (g := self.given[x])}
        given_b = {g for x in mb if (g := self.given[x])}
        if any(given_names_conflict(x, y) for x in given_a for y in given_b):
            return "given_name"
        sexes_a = {v for x in ma if (v := self.sex[x])}
        sexes_b = {v for x in mb if (v := self.sex[x])}
        if sexes_conflict(sexes_a, sexes_b, given_a, given_b):
            return "sex"
        births_a = {d for x in ma if (d := self.birth[x]) is not None}
        births_b = {d for x in mb if (d := self.birth[x]) is not None}
        if births_a and births_b and not any(birth_dates_consistent(x, y) for x in births_a for y in births_b):
            return "birth_date"
        return None


def _dates(values: Iterable[object]) -> list[dt.date | None]:
    return [dt.date.fromisoformat(v) if isinstance(v, str) else None for v in values]


def cluster_records(
    features: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    auto_link: float,
    initial: np.ndarray | None = None,
    steward_links: Iterable[tuple[int, int]] = (),
    never_links: Iterable[tuple[int, int]] = (),
    on_progress: Callable[[int], object] | None = None,
) -> ClusterResult:
    """Join records into clusters: steward links, then pairs at or above ``auto_link``, under the guards.

    Parameters
    ----------
    features
        Feature frame (``id18``, ``given_py``, ``birth_date`` are read), row positions are record numbers.
    pairs
        Scored pairs (``rid_l``, ``rid_r``, ``match_probability``, ``rule``).
    auto_link
        Probability at or above which a Splink pair links; ID-number pairs always try to link.
    initial
        Cluster label per record to start from (the previous run's clusters), ``-1`` for records starting
        alone. Records sharing a label start joined, without guards (they were accepted before).
    steward_links, never_links
        Record-position pairs a steward decided on. ``never_links`` are absolute; ``steward_links`` join even
        against the machine guards, but never across a ``never_link``.
    on_progress
        Called now and then with the number of pairs looked at.

    Returns
    -------
    ClusterResult
    """
    n = len(features)
    clusters = _Clusters(
        n,
        features["id18"].tolist(),
        features["given_py"].tolist(),
        _dates(features["birth_date"].tolist()),
        features["sex"].tolist(),
    )
    for a, b in never_links:
        clusters.never[a].add(b)
        clusters.never[b].add(a)
    if initial is not None:
        # Each previous cluster joined at once under its first record (a union per record costs seconds at 1M).
        labels = np.asarray(initial)
        valid = np.flatnonzero(labels >= 0)
        _, groups = lists_by_key(labels[valid], valid)
        parent = np.arange(n)
        for group in groups:
            if len(group) > 1:
                members = [int(x) for x in group]  # type: ignore[call-overload]
                parent[members] = members[0]
                clusters.members[members[0]] = members
        clusters.parent = parent.tolist()

    accepted_rows: list[tuple[int, int, float, str]] = []
    vetoed_rows: list[tuple[int, int, float, str, str]] = []
    for a, b in steward_links:
        ra, rb = clusters.find(a), clusters.find(b)
        if ra == rb:
            continue
        ma, mb = clusters.members_of(ra), clusters.members_of(rb)
        if any(x in clusters.never and not clusters.never[x].isdisjoint(mb) for x in ma):
            vetoed_rows.append((a, b, 1.0, "steward", "never_link"))
            continue
        clusters.union(ra, rb)
        accepted_rows.append((a, b, 1.0, "steward"))

    candidates = pairs[(pairs["rule"] != "splink") | (pairs["match_probability"] >= auto_link)]
    rank = candidates["rule"].map(RULE_RANK).fillna(3).to_numpy()
    order = np.lexsort((-candidates["match_probability"].to_numpy(), rank))
    left = candidates["rid_l"].to_numpy()[order].tolist()
    right = candidates["rid_r"].to_numpy()[order].tolist()
    prob = candidates["match_probability"].to_numpy()[order].tolist()
    rule = candidates["rule"].to_numpy()[order].tolist()
    for i, (a, b, p, r) in enumerate(zip(left, right, prob, rule, strict=True)):
        if on_progress is not None and not i % 100_000:
            on_progress(i)
        ra, rb = clusters.find(a), clusters.find(b)
        if ra == rb:
            continue
        reason = clusters.guard(ra, rb)
        if reason is not None:
            vetoed_rows.append((a, b, p, r, reason))
            continue
        clusters.union(ra, rb)
        accepted_rows.append((a, b, p, r))

    root = np.fromiter((clusters.find(i) for i in range(n)), dtype=np.int64, count=n)
    types = {"rid_l": np.int64, "rid_r": np.int64, "match_probability": float}
    accepted = pd.DataFrame(accepted_rows, columns=["rid_l", "rid_r", "match_probability", "rule"]).astype(types)
    vetoed = pd.DataFrame(vetoed_rows, columns=["rid_l", "rid_r", "match_probability", "rule", "reason"])
    vetoed = vetoed.astype(types)
    return ClusterResult(root=root, accepted=accepted, vetoed=vetoed)


def assign_empi_ids(
    root: np.ndarray,
    previous_ids: Sequence[str | None],
    *,
    next_number: int,
    record_ids: Sequence[str],
    occurred_at: dt.datetime,
    merge_reasons: dict[int, str] | None = None,
    split_reason: str = "relinked",
) -> tuple[list[str], pd.DataFrame, int]:
    """Give every cluster an empi_id, keeping previous ids, and describe what changed as events.

    Parameters
    ----------
    root
        Cluster representative per record (from :func:`cluster_records`).
    previous_ids
        The previous run's empi_id per record, ``None`` for new records.
    next_number
        Sequence number of the next new id (one more than the largest id ever given).
    record_ids
        Record ids, for the events.
    occurred_at
        Time stamp of the events.
    merge_reasons
        Why each cluster (by root) merged previous ids, e.g. ``"id_number"``; default ``"splink"``.
    split_reason
        Reason written on split events (``"steward never_link"`` when a steward decision caused them).

    Returns
    -------
    tuple
        The empi_id per record, the events frame (:data:`EVENT_COLUMNS`) and the next free sequence number.
    """
    n = len(root)
    root = np.asarray(root, dtype=np.int64)
    prev = np.array(list(previous_ids), dtype=object)
    rec = np.asarray(record_ids, dtype=object)
    has_prev = np.asarray(pd.notna(prev), dtype=bool)
    old = pd.DataFrame({"prev": prev[has_prev], "root": root[has_prev], "pos": np.flatnonzero(has_prev)})
    # Which cluster keeps each previous id: the one holding most of its records (ties: its first record).
    share = old.groupby(["prev", "root"], sort=False).agg(count=("pos", "size"), first=("pos", "min")).reset_index()
    share = share.sort_values(["prev", "count", "first"], ascending=[True, False, True])
    keeper = share.drop_duplicates("prev")
    claims: dict[int, list[str]] = {}
    for prev_id, r in zip(keeper["prev"].tolist(), keeper["root"].tolist(), strict=True):
        claims.setdefault(r, []).append(prev_id)

    roots = pd.unique(root)  # in order of first record: new ids follow the input order
    assigned: dict[int, str] = {}
    number = next_number
    for r in roots.tolist():
        ids = claims.get(r)
        if ids:
            ids.sort(key=parse_empi_id)
            assigned[r] = ids[0]
        else:
            assigned[r] = format_empi_id(number)
            number += 1
    empi_ids = [assigned[r] for r in root.tolist()]

    events: list[tuple[str, str, list[str], list[str], str]] = []
    merge_reasons = merge_reasons or {}
    merged = {r: ids for r, ids in claims.items() if len(ids) > 1}
    # The records of merged-away ids only (listing every previous id's records costs seconds at a million).
    away = np.asarray([x for ids in merged.values() for x in ids[1:]], dtype=object)
    in_away = has_prev & pd.Series(prev).isin(away).to_numpy() if len(away) else np.zeros(n, dtype=bool)
    members_of_prev = dict(zip(*lists_by_key(prev[in_away].astype(str), rec[in_away]), strict=True))
    for r, ids in merged.items():
        moved = [x for prev_id in ids[1:] for x in members_of_prev[prev_id]]
        events.append(("merge", ids[0], ids[1:], moved, merge_reasons.get(r, "splink")))
    # Splits: a previous id whose records now sit in clusters that did not keep it.
    lost = share.merge(keeper[["prev", "root"]], on="prev", suffixes=("", "_keeper"))
    lost = lost[lost["root"] != lost["root_keeper"]]
    for prev_id, group in lost.groupby("prev", sort=True):
        targets = set(group["root"].tolist())
        moved = [rec[p] for p in np.flatnonzero((prev == prev_id) & np.isin(root, list(targets)))]
        events.append(("split", str(prev_id), sorted({assigned[t] for t in targets}), moved, split_reason))
    # Creates: clusters without any record from before.
    fresh = ~np.isin(root, old["root"].unique()) if len(old) else np.ones(n, dtype=bool)
    fresh_roots, fresh_members = lists_by_key(root[fresh], rec[fresh])
    creates: list[tuple[str, str, list[str], list[str], str]] = [
        ("create", assigned[r], [], [str(x) for x in m], "new")
        for r, m in zip(fresh_roots.tolist(), fresh_members, strict=True)
    ]
    creates.sort(key=lambda e: e[1])
    events.extend(creates)

    stamp = f"{occurred_at:%Y%m%dT%H%M%S%f}"
    times = pd.Series(pd.Timestamp(occurred_at), index=range(len(events)))
    event_frame = pd.DataFrame(
        {
            "event_id": [f"{stamp}-{i:07d}" for i in range(len(events))],
            "event": [e[0] for e in events],
            "empi_id": [e[1] for e in events],
            "other_empi_ids": [e[2] for e in events],
            "record_ids": [sorted(e[3]) for e in events],
            "reason": [e[4] for e in events],
            "occurred_at": times,
        },
        columns=list(EVENT_COLUMNS),
    )
    return empi_ids, event_frame, number
