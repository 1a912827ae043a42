"""Tests of steward decisions and the review queue helpers."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from transforms.empi.review import REVIEW_COLUMNS, DecisionError, carry_forward, decisions_from_review, latest_decisions

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_latest_decision_per_unordered_pair_wins() -> None:
    decisions = pd.DataFrame(
        {
            "record_id_a": ["b:1", "a:1", "c:1"],
            "record_id_b": ["a:1", "b:1", "d:1"],
            "decision": ["never_link", "link", "link"],
            "decided_by": ["s1", "s2", "s1"],
            "decided_at": [T0 + dt.timedelta(days=2), T0, T0],
        }
    )
    latest = latest_decisions(decisions).set_index(["record_id_a", "record_id_b"])
    assert len(latest) == 2
    assert latest.loc[("a:1", "b:1"), "decision"] == "never_link"  # later, though listed first


def test_unusable_decisions_name_the_row() -> None:
    bad = pd.DataFrame({"record_id_a": ["a:1"], "record_id_b": ["a:1"], "decision": ["link"]})
    with pytest.raises(DecisionError, match="row 2"):  # the first data row, as a CSV counts it
        latest_decisions(bad)
    with pytest.raises(DecisionError, match="row 3"):
        decisions_from_review(
            pd.DataFrame({"record_id_a": ["a", "b"], "record_id_b": ["c", "d"], "decision": ["link", "perhaps"]}),
            decided_by="s",
        )


def test_blank_rows_of_a_reviewed_queue_are_skipped() -> None:
    reviewed = pd.DataFrame({"record_id_a": ["a", "b"], "record_id_b": ["c", "d"], "decision": [None, "Never link"]})
    decisions = decisions_from_review(reviewed, decided_by="s", decided_at=T0)
    assert decisions[["record_id_a", "decision", "decided_by"]].values.tolist() == [["b", "never_link", "s"]]


def test_carry_forward_keeps_open_pairs_only() -> None:
    def row(a: str, b: str, p: float) -> dict[str, object]:
        return {c: None for c in REVIEW_COLUMNS} | {"record_id_a": a, "record_id_b": b, "match_probability": p}

    previous = pd.DataFrame([row("a", "b", 0.5), row("c", "d", 0.6), row("e", "f", 0.7), row("g", "h", 0.4)])
    current = pd.DataFrame([row("x", "y", 0.8)])
    empi = {"a": "E1", "b": "E2", "c": "E3", "d": "E3", "e": "E4", "f": "E5", "x": "E6", "y": "E7"}
    decided = pd.DataFrame({"record_id_a": ["e"], "record_id_b": ["f"], "decision": ["link"]})
    queue = carry_forward(previous, current, empi, decided)
    assert queue[["record_id_a", "record_id_b"]].values.tolist() == [["x", "y"], ["a", "b"]]
    assert queue.loc[1, "empi_id_a"] == "E1"
