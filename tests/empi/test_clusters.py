"""Unit tests of clustering under guards and of stable empi_id assignment, on tiny hand-made frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from transforms.empi.clusters import assign_empi_ids, cluster_records, format_empi_id, parse_empi_id

NOW = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


def _features(rows: list[tuple[str | None, str | None, str | None, str | None]]) -> pd.DataFrame:
    """Rows of (id18, given_py, birth_date, sex)."""
    return pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(rows))],
            "id18": [r[0] for r in rows],
            "given_py": [r[1] for r in rows],
            "birth_date": [r[2] for r in rows],
            "sex": [r[3] for r in rows],
        }
    )


def _pairs(*edges: tuple[int, int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rid_l": [e[0] for e in edges],
            "rid_r": [e[1] for e in edges],
            "match_probability": [e[2] for e in edges],
            "rule": ["splink"] * len(edges),
        }
    )


def test_strong_pairs_link_weak_pairs_do_not() -> None:
    features = _features([(None, "wei", "1980-01-01", "M")] * 3)
    result = cluster_records(features, _pairs((0, 1, 0.99), (1, 2, 0.5)), auto_link=0.9)
    assert result.root[0] == result.root[1] != result.root[2]


def test_guards_keep_twins_apart_even_through_an_ambiguous_record() -> None:
    # 0 and 1 are twins (different ID numbers); 2 lost its last character and scores high with both.
    features = _features(
        [
            ("330106201205061224", "siyu", "2012-05-06", "F"),
            ("330106201205061240", "sixue", "2012-05-06", "F"),
            (None, "si", "2012-05-06", "F"),
        ]
    )
    result = cluster_records(features, _pairs((0, 2, 0.99), (1, 2, 0.98), (0, 1, 0.97)), auto_link=0.9)
    assert result.root[0] != result.root[1]
    assert result.root[2] == result.root[0]  # the stronger pair wins
    assert set(result.vetoed["reason"]) <= {"id_number", "given_name"}
    assert len(result.vetoed) == 2


def test_parent_and_child_birth_dates_veto() -> None:
    features = _features([(None, "wei", "1978-02-14", "M"), (None, "weiming", "2009-07-30", "M")])
    result = cluster_records(features, _pairs((0, 1, 0.99)), auto_link=0.9)
    assert result.root[0] != result.root[1]
    assert result.vetoed["reason"].tolist() == ["birth_date"]


def test_steward_never_link_beats_any_score_and_link_beats_guards() -> None:
    features = _features(
        [
            (None, "wei", "1980-01-01", "M"),
            (None, "wei", "1980-01-01", "M"),
            (None, "qiang", "1990-01-01", "M"),
            (None, "wei", "1980-01-01", "M"),
        ]
    )
    result = cluster_records(
        features,
        _pairs((0, 1, 0.999), (1, 3, 0.99)),
        auto_link=0.9,
        steward_links=[(0, 2)],
        never_links=[(0, 1)],
    )
    assert result.root[0] == result.root[2]  # joined by the steward despite name and birth date
    assert result.root[0] != result.root[1]
    assert result.root[1] == result.root[3]


def test_initial_clusters_are_kept() -> None:
    features = _features([(None, "wei", None, None)] * 4)
    result = cluster_records(features, _pairs(), auto_link=0.9, initial=np.array([0, 0, -1, 1]))
    assert result.root[0] == result.root[1]
    assert len({result.root[1], result.root[2], result.root[3]}) == 3


def test_a_new_record_does_not_merge_two_known_persons_on_scores_alone() -> None:
    # Records 0 and 1 are two persons of the previous run; 2 is new and scores above auto-link with both.
    features = _features([(None, "wei", "1980-01-01", "M")] * 3)
    scored = _pairs((0, 2, 0.99), (1, 2, 0.95))
    result = cluster_records(features, scored, auto_link=0.9, initial=np.array([0, 1, -1]))
    assert result.root[2] == result.root[0] != result.root[1]  # the stronger person takes the new record
    assert result.vetoed[["rid_l", "rid_r"]].values.tolist() == [[1, 2]]
    assert result.vetoed["reason"].tolist() == ["bridge"]
    # The same scores in a first run (nobody known yet) make one person; an ID number merges known persons.
    assert len(set(cluster_records(features, scored, auto_link=0.9).root)) == 1
    by_id = scored.assign(rule="id_number")
    assert len(set(cluster_records(features, by_id, auto_link=0.9, initial=np.array([0, 1, -1])).root)) == 1


def test_new_ids_follow_the_sequence_and_creates_are_events() -> None:
    ids, events, next_number = assign_empi_ids(
        np.array([0, 0, 2]), [None, None, None], next_number=7, record_ids=["a", "b", "c"], occurred_at=NOW
    )
    assert ids == [format_empi_id(7), format_empi_id(7), format_empi_id(8)]
    assert next_number == 9
    assert events["event"].tolist() == ["create", "create"]
    assert events["record_ids"].tolist() == [["a", "b"], ["c"]]
    assert parse_empi_id("E0000000042") == 42


def test_existing_ids_are_kept_and_a_merge_keeps_the_older_id() -> None:
    older, newer = format_empi_id(3), format_empi_id(9)
    ids, events, _ = assign_empi_ids(
        np.array([0, 0, 0, 3]),
        [newer, older, None, format_empi_id(5)],
        next_number=10,
        record_ids=["a", "b", "c", "d"],
        occurred_at=NOW,
        merge_reasons={0: "id_number"},
    )
    assert ids == [older, older, older, format_empi_id(5)]
    assert events["event"].tolist() == ["merge"]
    merge = events.iloc[0]
    assert merge["empi_id"] == older
    assert merge["other_empi_ids"] == [newer]
    assert merge["record_ids"] == ["a"]
    assert merge["reason"] == "id_number"


def test_a_split_keeps_the_id_on_the_larger_part() -> None:
    old = format_empi_id(4)
    ids, events, _ = assign_empi_ids(
        np.array([0, 0, 2]),
        [old, old, old],
        next_number=20,
        record_ids=["a", "b", "c"],
        occurred_at=NOW,
        split_reason="steward never_link",
    )
    assert ids == [old, old, format_empi_id(20)]
    assert events["event"].tolist() == ["split"]
    split = events.iloc[0]
    assert split["empi_id"] == old
    assert split["other_empi_ids"] == [format_empi_id(20)]
    assert split["record_ids"] == ["c"]
    assert split["reason"] == "steward never_link"
