"""Records → persons: connected components under never-link constraints, with ids stable across runs.

:func:`cluster_records` joins records greedily, strongest evidence first (steward links, then equal ID
numbers, then Splink pairs by falling probability), and refuses any join that would put into one person

- two different trusted ID numbers (twins, parent and child: each person has one number),
- two given names that conflict (思雨 and 思雪; a missing character is no conflict),
- birth dates of which no pair could be one date typed twice (parent and child),
- different sexes without a given name in common (a twin's record missing a character),
- two records a steward marked ``never_link``, or
- two persons of the previous run through Splink pairs alone (``bridge``): a new record that resembles two
  known persons does not merge them behind their backs; the pair goes to the stewards, and ID-number or
  steward links still merge.

:func:`assign_empi_ids` then gives each cluster an id, keeping the previous run's ids: a cluster holding the
records of one previous id keeps it; when clusters merge the oldest id (the smallest number) survives; when a
previous cluster is split (a steward's never-link, or records re-linked elsewhere) the part with most of its
records keeps the id. Every create, merge and split is returned as an event row.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from radlake import catalog
from transforms.empi._grouping import lists_by_key
from transforms.empi.guards import birth_dates_consistent, given_names_conflict, sexes_conflict
from transforms.empi.names import pinyin_order_ambiguous

__all__ = [
    "EVENT_COLUMNS",
    "ClusterResult",
    "assign_empi_ids",
    "cluster_records",
    "format_empi_id",
    "parse_empi_id",
]

# The events of one run; the job adds the run number (empi_run) when it writes them.
EVENT_COLUMNS: tuple[str, ...] = tuple(n for n in catalog.schemas.EMPI_EVENTS.names if n != "empi_run")
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


def _dates(values: np.ndarray) -> list[dt.date | None]:
    # Parsed once per distinct text, and the records of one date share its object (ten million dates are
    # a few tens of thousands of distinct ones).
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    parsed = np.array([dt.date.fromisoformat(v) if isinstance(v, str) else None for v in uniques] + [None])
    return parsed[codes].tolist()


def _guard_given(features: pd.DataFrame) -> list[str | None]:
    """The given names the guards compare: unknown for a pinyin name that reads in either order (``fang
    wang``), whose given name may be the other record's surname."""
    given = features["given_py"].to_numpy(dtype=object)
    if "name_norm" not in features.columns:
        return given.tolist()
    codes, uniques = pd.factorize(features["name_norm"].to_numpy(dtype=object))
    ambiguous = np.array([pinyin_order_ambiguous(str(u)) for u in uniques] + [False], dtype=bool)
    return [None if unsure else g for unsure, g in zip(ambiguous[codes].tolist(), given.tolist(), strict=True)]


def _chunked(*columns: np.ndarray, size: int = 1_000_000) -> Iterator[tuple[Any, ...]]:
    """``(i, *values)`` of the rows of equal-length arrays, as Python objects a million rows at a time: ten
    million pairs as Python numbers at once would hold a gigabyte."""
    for start in range(0, len(columns[0]), size):
        parts = [c[start : start + size].tolist() for c in columns]
        yield from zip(itertools.count(start), *parts, strict=False)


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
        Feature frame (``id18``, ``name_norm``, ``given_py``, ``birth_date``, ``sex`` are read), row positions
        are record numbers.
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
        _guard_given(features),
        _dates(features["birth_date"].to_numpy(dtype=object)),
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

    # Clusters holding records of the previous run (by root): a Splink pair never merges two of them.
    established = np.zeros(n, dtype=bool) if initial is None else np.asarray(initial) >= 0
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
        kept = clusters.union(ra, rb)
        established[kept] = established[ra] or established[rb]
        accepted_rows.append((a, b, 1.0, "steward"))

    candidates = pairs[(pairs["rule"] != "splink") | (pairs["match_probability"] >= auto_link)]
    rank = candidates["rule"].map(RULE_RANK).fillna(3).to_numpy()
    order = np.lexsort((-candidates["match_probability"].to_numpy(), rank))
    left_all = candidates["rid_l"].to_numpy()[order]
    right_all = candidates["rid_r"].to_numpy()[order]
    prob_all = candidates["match_probability"].to_numpy()[order]
    rule_all = candidates["rule"].to_numpy()[order]
    for i, a, b, p, r in _chunked(left_all, right_all, prob_all, rule_all):
        if on_progress is not None and not i % 100_000:
            on_progress(i)
        ra, rb = clusters.find(a), clusters.find(b)
        if ra == rb:
            continue
        reason = clusters.guard(ra, rb)
        if reason is None and r == "splink" and established[ra] and established[rb]:
            reason = "bridge"
        if reason is not None:
            vetoed_rows.append((a, b, p, r, reason))
            continue
        kept = clusters.union(ra, rb)
        established[kept] = established[ra] or established[rb]
        accepted_rows.append((a, b, p, r))

    # Every record's root by pointer jumping over the whole parent array (a find per record costs seconds).
    root = np.asarray(clusters.parent, dtype=np.int64)
    while not np.array_equal(jumped := root[root], root):
        root = jumped
    types = {"rid_l": np.int64, "rid_r": np.int64, "match_probability": float}
    accepted = pd.DataFrame(accepted_rows, columns=["rid_l", "rid_r", "match_probability", "rule"]).astype(types)
    vetoed = pd.DataFrame(vetoed_rows, columns=["rid_l", "rid_r", "match_probability", "rule", "reason"])
    vetoed = vetoed.astype(types)
    return ClusterResult(root=root, accepted=accepted, vetoed=vetoed)


def _numbers(ids: np.ndarray) -> np.ndarray:
    """The sequence numbers of empi_id texts (raises naming the first one that is not an empi_id)."""
    text = pd.Series(ids, dtype=object).astype(str)
    bad = ~text.str.fullmatch(r"E\d+")
    if bad.any():
        parse_empi_id(str(text[bad].iloc[0]))
    return text.str.slice(1).astype(np.int64).to_numpy() if len(text) else np.zeros(0, dtype=np.int64)


def assign_empi_ids(
    root: np.ndarray,
    previous_ids: Sequence[str | None] | np.ndarray,
    *,
    next_number: int,
    record_ids: Sequence[str] | np.ndarray,
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
    rec = np.asarray(record_ids, dtype=object)
    # Integer codes throughout: grouping a million id strings costs seconds, their codes a fraction of that.
    prev_code, prev_text = pd.factorize(np.array(list(previous_ids), dtype=object))
    prev_number = _numbers(prev_text)
    root_code, root_first = pd.factorize(root)  # codes in order of each cluster's first record
    has_prev = prev_code >= 0
    old = pd.DataFrame({"prev": prev_code[has_prev], "root": root_code[has_prev], "pos": np.flatnonzero(has_prev)})
    # Which cluster keeps each previous id: the one holding most of its records (ties: its first record).
    share = old.groupby(["prev", "root"], sort=False).agg(count=("pos", "size"), first=("pos", "min")).reset_index()
    share = share.sort_values(["prev", "count", "first"], ascending=[True, False, True])
    keeper = share.drop_duplicates("prev")

    # A cluster keeps the oldest (smallest) id it holds the most records of; the others get new numbers,
    # following the input order.
    claimed = np.full(len(root_first), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(claimed, keeper["root"].to_numpy(), prev_number[keeper["prev"].to_numpy()])
    fresh_cluster = claimed == np.iinfo(np.int64).max
    claimed[fresh_cluster] = next_number + np.arange(int(fresh_cluster.sum()), dtype=np.int64)
    number = next_number + int(fresh_cluster.sum())
    cluster_id = np.array([format_empi_id(x) for x in claimed.tolist()], dtype=object)
    claims = keeper.assign(number=prev_number[keeper["prev"].to_numpy()]).sort_values(["root", "number"])
    oldest = claims.drop_duplicates("root")
    cluster_id[oldest["root"].to_numpy()] = np.asarray(prev_text, dtype=object)[oldest["prev"].to_numpy()]  # as stored
    empi_ids: list[str] = cluster_id[root_code].tolist()

    events: list[tuple[str, str, list[str], list[str], str]] = []
    merge_reasons = merge_reasons or {}
    merged = claims[claims.duplicated("root", keep=False)]
    away = merged[merged.duplicated("root", keep="first")]["prev"].to_numpy()
    # The records of merged-away ids only (listing every previous id's records costs seconds at a million).
    in_away = np.isin(prev_code, away) if len(away) else np.zeros(n, dtype=bool)
    members_of_prev = dict(zip(*lists_by_key(prev_code[in_away], rec[in_away]), strict=True))
    for code, group in merged.groupby("root", sort=False):
        codes = group["prev"].tolist()
        moved = [x for c in codes[1:] for x in members_of_prev[c]]
        survivor, others = str(prev_text[codes[0]]), [str(prev_text[c]) for c in codes[1:]]
        events.append(("merge", survivor, others, moved, merge_reasons.get(int(root_first[code]), "splink")))
    events.sort(key=lambda e: e[1])
    # Splits: a previous id whose records now sit in clusters that did not keep it.
    lost = share.merge(keeper[["prev", "root"]], on="prev", suffixes=("", "_keeper"))
    lost = lost[lost["root"] != lost["root_keeper"]]
    moved_rows = old.merge(lost[["prev", "root"]], on=["prev", "root"])
    moved_by_prev = dict(zip(*lists_by_key(moved_rows["prev"].to_numpy(), moved_rows["pos"].to_numpy()), strict=True))
    splits = []
    for code, group in lost.groupby("prev", sort=False):
        targets = sorted({str(cluster_id[t]) for t in group["root"].tolist()})
        moved = [rec[p] for p in sorted(moved_by_prev[code])]
        splits.append(("split", str(prev_text[code]), targets, moved, split_reason))
    events.extend(sorted(splits, key=lambda e: e[1]))
    # Creates: clusters without any record from before.
    fresh = ~np.isin(root_code, old["root"].unique())
    fresh_codes, fresh_members = lists_by_key(root_code[fresh], rec[fresh])
    creates: list[tuple[str, str, list[str], list[str], str]] = [
        ("create", str(cluster_id[c]), [], [str(x) for x in m], "new")
        for c, m in zip(fresh_codes.tolist(), fresh_members, strict=True)
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
