"""Tests of whole runs: stable ids across incremental runs, merge and split events, steward decisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd
import pytest

from radlake.errors import DataError
from simulator.people import generate_registry
from transforms.empi.clusters import parse_empi_id
from transforms.empi.id_number import check_digit
from transforms.empi.linkage import LinkageConfig
from transforms.empi.master import MASTER_COLUMNS, PreviousRun, link_patients
from transforms.empi.review import REVIEW_COLUMNS, decisions_from_review

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 1, 3, tzinfo=dt.UTC)


def _id(region: str, birth: str, seq: str) -> str:
    body = region + birth.replace("-", "") + seq
    return body + check_digit(body)


def _row(record_id: str, name: str, sex: str, birth: str | None, **extra: Any) -> dict[str, Any]:
    institution, mrn = record_id.split(":")
    row = {"record_id": record_id, "source_system": institution, "mrn": mrn, "name": name, "sex": sex,
           "birth_date": birth, "id_number": None, "phone": None, "address": None}  # fmt: skip
    row.update(extra)
    return row


def _with(background: pd.DataFrame, *rows: dict[str, Any]) -> pd.DataFrame:
    return pd.concat([background, pd.DataFrame(list(rows))], ignore_index=True)


def _ids(run: Any) -> pd.Series:
    return run.master.set_index("record_id")["empi_id"]


def _decision(a: str, b: str, decision: str, when: dt.datetime) -> dict[str, Any]:
    return {"record_id_a": a, "record_id_b": b, "decision": decision, "decided_by": "steward1", "decided_at": when}


def test_full_run_outputs(background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig) -> None:
    run = link_patients(background, model=model, config=config, now=T0)
    assert list(run.master.columns) == list(MASTER_COLUMNS)
    assert len(run.master) == len(background)
    assert set(run.master["link_rule"]) <= {"id_number", "splink", "steward", "singleton"}
    persons = run.master["empi_id"].nunique()
    assert len(run.golden) == persons
    assert (run.events["event"] == "create").all() and len(run.events) == persons
    singles = run.master["link_rule"] == "singleton"
    assert run.master.loc[singles, "match_probability"].isna().all()
    assert (run.master.loc[~singles, "match_probability"] >= config.auto_link).all()
    # Golden records gather their records and their phones.
    sizes = run.master.groupby("empi_id").size()
    assert (run.golden.set_index("empi_id")["source_records"].map(len) == sizes).all()
    assert list(run.review.columns) == list(REVIEW_COLUMNS)


def test_incremental_run_keeps_existing_ids(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    first = background.iloc[:-400]
    run1 = link_patients(first, model=model, config=config, now=T0)
    run2 = link_patients(
        background, previous=PreviousRun(master=run1.master, events=run1.events), model=model, config=config, now=T1
    )
    assert run2.stats["relinked_records"] == 400  # only the new records were compared
    before, after = _ids(run1), _ids(run2).reindex(_ids(run1).index)
    changed = before[before != after]
    merged_away = {x for ids in run2.events.loc[run2.events["event"] == "merge", "other_empi_ids"] for x in ids}
    assert set(changed) <= merged_away  # an existing record changes id only when its person merged
    assert len(changed) < 10
    oldest_new = min(parse_empi_id(x) for x in run2.events.loc[run2.events["event"] == "create", "empi_id"])
    assert oldest_new > max(parse_empi_id(x) for x in run1.master["empi_id"])
    # Records whose person did not change keep when they were linked.
    kept = run2.master.set_index("record_id").loc[before[before == after].index, "linked_at"]
    assert (kept == pd.Timestamp(T0)).all()
    # New records that joined an existing person took its id.
    new_ids = _ids(run2).iloc[-400:]
    assert new_ids.isin(set(before)).sum() > 50


def test_incremental_run_rebuilds_golden_records_of_touched_persons_only(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    from transforms.empi.golden import build_golden

    run1 = link_patients(background.iloc[:-400], model=model, config=config, now=T0)
    edited = background.copy()
    edited.loc[edited.index[3], "phone"] = "13900001111"  # an existing record's input changed
    run2 = link_patients(
        edited,
        previous=PreviousRun(master=run1.master, events=run1.events, features=run1.features, golden=run1.golden),
        model=model,
        config=config,
        now=T1,
    )
    rebuilt = build_golden(run2.features, run2.master)  # every person from scratch, the other route
    pd.testing.assert_frame_equal(run2.golden.reset_index(drop=True), rebuilt.reset_index(drop=True))
    person = run2.master.set_index("record_id").loc[edited["record_id"].iloc[3], "empi_id"]
    assert "13900001111" in run2.golden.set_index("empi_id").loc[person, "phones"]


def test_a_bridging_record_is_queued_and_a_steward_link_keeps_the_older_id(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    number = _id("330110", "1970-10-01", "357")
    older = _row("x1:M2", "韦思源", "M", None, phone="13512345678", address="杭州市余杭区临平大道9号")
    newer = _row("x2:M1", "韦思源", "M", "1970-10-01", id_number=number, phone="18912345678")
    run1 = link_patients(_with(background, older, newer), model=model, config=config, now=T0)
    ids1 = _ids(run1)
    assert ids1["x1:M2"] != ids1["x2:M1"]  # too little evidence yet
    assert parse_empi_id(ids1["x1:M2"]) < parse_empi_id(ids1["x2:M1"])
    bridge = _row("x3:M3", "韦思源", "M", "1970-10-01", id_number=number, phone="13512345678",
                  address="杭州市余杭区临平大道9号")  # fmt: skip
    run2 = link_patients(
        _with(background, older, newer, bridge),
        previous=PreviousRun(master=run1.master, events=run1.events),
        model=model,
        config=config,
        now=T1,
    )
    ids2 = _ids(run2)
    # The new record joins x2 on the ID number; its phone and address also point at x1, but two known persons
    # are not merged on scores alone: the pair goes to the stewards as a bridge.
    assert ids2["x3:M3"] == ids2["x2:M1"] == ids1["x2:M1"] and ids2["x1:M2"] == ids1["x1:M2"]
    queued = run2.review[run2.review["reason"] == "guard:bridge"]
    assert {queued["empi_id_a"].iloc[0], queued["empi_id_b"].iloc[0]} == {ids1["x1:M2"], ids1["x2:M1"]}
    queued = queued.assign(decision="link")
    run3 = link_patients(
        _with(background, older, newer, bridge),
        previous=PreviousRun(master=run2.master, events=pd.concat([run1.events, run2.events])),
        decisions=decisions_from_review(queued, decided_by="steward1", decided_at=T1),
        model=model,
        config=config,
        now=T2,
    )
    ids3 = _ids(run3)
    assert ids3["x1:M2"] == ids3["x2:M1"] == ids3["x3:M3"] == ids1["x1:M2"]  # the older id survives
    merges = run3.events[run3.events["event"] == "merge"]
    row = merges[merges["empi_id"] == ids1["x1:M2"]].iloc[0]
    assert row["other_empi_ids"] == [ids1["x2:M1"]]
    assert row["record_ids"] == ["x2:M1", "x3:M3"]
    assert row["occurred_at"] == pd.Timestamp(T2)


def test_never_link_splits_a_person_and_is_respected_later(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    number = _id("330106", "1988-04-04", "228")
    rows = [
        _row("x1:S1", "殷梦琪", "F", "1988-04-04", id_number=number, phone="13300000001"),
        _row("x2:S1", "殷梦琪", "F", "1988-04-04", id_number=number, phone="13300000001"),
        _row("x3:S1", "殷梦琪", "F", "1988-04-04", id_number=number),
    ]
    run1 = link_patients(_with(background, *rows), model=model, config=config, now=T0)
    person = _ids(run1)["x1:S1"]
    assert _ids(run1)["x3:S1"] == person
    decisions = pd.DataFrame(
        [_decision("x3:S1", "x1:S1", "never_link", T1), _decision("x3:S1", "x2:S1", "never_link", T1)]
    )
    run2 = link_patients(
        _with(background, *rows),
        previous=PreviousRun(master=run1.master, events=run1.events),
        decisions=decisions,
        model=model,
        config=config,
        now=T1,
    )
    ids2 = _ids(run2)
    assert ids2["x1:S1"] == ids2["x2:S1"] == person  # the larger part keeps the id
    assert ids2["x3:S1"] != person
    split = run2.events[run2.events["event"] == "split"].iloc[0]
    assert split["empi_id"] == person
    assert split["other_empi_ids"] == [ids2["x3:S1"]]
    assert split["record_ids"] == ["x3:S1"]
    assert split["reason"] == "steward never_link"
    assert run2.stats["relinked_records"] == 3  # only the split person was re-linked
    # A later run with one more record carrying the same ID number still respects the decision.
    extra = _row("x4:S1", "殷梦琪", "F", "1988-04-04", id_number=number)
    run3 = link_patients(
        _with(background, *rows, extra),
        previous=PreviousRun(master=run2.master, events=pd.concat([run1.events, run2.events])),
        decisions=decisions,
        model=model,
        config=config,
        now=T2,
    )
    ids3 = _ids(run3)
    assert ids3["x3:S1"] != ids3["x1:S1"]
    assert ids3["x1:S1"] == person


def test_steward_link_joins_and_the_latest_decision_wins(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    rows = [
        _row("x1:L1", "甘文斌", "M", "1955-05-05", phone="13600000005"),
        _row("x2:L1", "Gan Wenbin", "M", "1956-06-15"),  # too different for the model
    ]
    decisions = pd.DataFrame([_decision("x1:L1", "x2:L1", "link", T0)])
    run = link_patients(_with(background, *rows), decisions=decisions, model=model, config=config, now=T0)
    ids = _ids(run)
    assert ids["x1:L1"] == ids["x2:L1"]
    assert set(run.master.set_index("record_id").loc[["x1:L1", "x2:L1"], "link_rule"]) == {"steward"}
    later = pd.DataFrame([_decision("x1:L1", "x2:L1", "link", T0), _decision("x2:L1", "x1:L1", "never_link", T1)])
    run2 = link_patients(_with(background, *rows), decisions=later, model=model, config=config, now=T1)
    assert _ids(run2)["x1:L1"] != _ids(run2)["x2:L1"]


def test_review_queue_round_trip(background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig) -> None:
    # A wide review band: the small standard registry leaves few uncertain pairs at the default threshold.
    config = dataclasses.replace(config, auto_link=0.99)
    run = link_patients(background, model=model, config=config, now=T0)
    queue = run.review
    assert len(queue) > 0
    assert (queue["empi_id_a"] != queue["empi_id_b"]).all()
    band = queue[queue["reason"] == "review_band"]
    assert band["match_probability"].between(config.review, config.auto_link, inclusive="left").all()
    filled = queue.head(2).copy()
    filled["decision"] = ["link", "never link"]
    decisions = decisions_from_review(filled, decided_by="steward1", decided_at=T1)
    assert decisions["decision"].tolist() == ["link", "never_link"]
    run2 = link_patients(background, decisions=decisions, model=model, config=config, now=T1)
    ids = _ids(run2)
    first, second = filled.iloc[0], filled.iloc[1]
    assert ids[first["record_id_a"]] == ids[first["record_id_b"]]
    assert ids[second["record_id_a"]] != ids[second["record_id_b"]]
    decided = set(zip(decisions["record_id_a"], decisions["record_id_b"], strict=True))
    assert not decided & set(zip(run2.review["record_id_a"], run2.review["record_id_b"], strict=True))


def test_bad_input_names_the_problem(model: dict[str, Any], config: LinkageConfig) -> None:
    with pytest.raises(DataError, match="record_id"):
        link_patients(pd.DataFrame({"name": ["张伟"]}), model=model, config=config)
    with pytest.raises(DataError, match="more than once"):
        link_patients(pd.DataFrame({"record_id": ["a:1", "a:1"]}), model=model, config=config)
    with pytest.raises(DataError, match="decision"):
        link_patients(
            pd.DataFrame({"record_id": ["a:1", "b:1"], "name": ["张伟", "张伟"]}),
            decisions=pd.DataFrame([_decision("a:1", "b:1", "maybe", T0)]),
            model=model,
            config=config,
        )


def _pair_count(labels: pd.Series) -> int:
    sizes = labels.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


@pytest.mark.slow
def test_accuracy_on_a_generated_registry() -> None:
    registry = generate_registry(8000, ["h01", "h02", "h03", "h04", "h05", "h06"], seed=99)
    run = link_patients(registry.drop(columns=["person_id"]), config=LinkageConfig(u_max_pairs=5e5))
    merged = registry[["record_id", "person_id"]].merge(run.master[["record_id", "empi_id"]], on="record_id")
    true_positive = _pair_count(merged["person_id"] + "|" + merged["empi_id"])
    precision = true_positive / _pair_count(merged["empi_id"])
    recall = true_positive / _pair_count(merged["person_id"])
    assert precision >= 0.995
    assert recall >= 0.98


def test_a_run_with_nothing_new_changes_nothing(
    background: pd.DataFrame, model: dict[str, Any], config: LinkageConfig
) -> None:
    run1 = link_patients(background, model=model, config=config, now=T0)
    run2 = link_patients(background, previous=PreviousRun(master=run1.master), model=model, config=config, now=T1)
    assert run2.events.empty
    assert run2.stats["pairs_scored"] == 0
    pd.testing.assert_frame_equal(run1.master, run2.master)
