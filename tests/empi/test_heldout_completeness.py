"""Blocking on a held-out registry (simulator.heldout, drawn by code the EMPI was not tuned on): each rule's pair
completeness, counted by DuckDB from the rule's own join and the truth, and the share all rules propose."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from simulator.heldout import generate_heldout_registry
from transforms.empi.features import record_features
from transforms.empi.linkage import BLOCKING_RULES, _model_input, pair_completeness


@pytest.fixture(scope="module")
def heldout() -> tuple[pd.DataFrame, pd.DataFrame]:
    """About 11,000 registrations of 6,000 held-out persons, and their features."""
    registry = generate_heldout_registry(6000, seed=2029)
    records = registry.drop(columns=["person_id"])
    return registry, record_features(records)


def test_heldout_registry_has_the_hard_cases(heldout: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The cases of issue 29 occur at realistic rates (counted on the raw records, not through the EMPI)."""
    registry, _ = heldout
    n = len(registry)
    assert 0.28 <= registry["id_number"].isna().mean() <= 0.40
    ids = registry["id_number"].dropna()
    assert (ids.str.len() == 15).sum() > 0.02 * n
    assert registry["phone"].isna().mean() > 0.08 and registry["address"].isna().mean() > 0.08
    names = registry["name"]
    assert names.str.fullmatch(r"[A-Z]+").sum() > 0.001 * n  # pinyin with no separator: ZHANGWEI
    assert names.str.contains("/").sum() > 0.001 * n
    assert names.str.contains(r"[\u4e00-\u9fff][ \u3000][\u4e00-\u9fff]").sum() > 0.01 * n
    born = registry.assign(day=pd.to_datetime(registry["birth_date"])).dropna(subset=["day"])
    by_person = born.groupby("person_id")["day"]
    spread = (by_person.max() - by_person.min()).dt.days
    assert (spread == 1).sum() > 0.002 * registry["person_id"].nunique()  # a day off, months rolling over
    phones = registry.dropna(subset=["phone"]).assign(p=lambda f: f["phone"].str.replace(r"\D", "", regex=True))
    sharing = phones.groupby("p")["person_id"].nunique()
    assert (sharing > 1).sum() > 0.02 * registry["person_id"].nunique()  # twins, parent and child, couples


def test_each_rules_pair_completeness_on_a_heldout_registry(heldout: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """pair_completeness per rule equals the share of true pairs that rule's SQL join proposes, and all rules
    together propose at least 99.5% of them."""
    registry, features = heldout
    person = registry["person_id"].to_numpy()
    shares = pair_completeness(features, person)
    keys = _model_input(features).to_pandas()  # noqa: F841  (read by DuckDB below)
    truth = pd.DataFrame({"rid": np.arange(len(person)), "person": person})  # noqa: F841
    con = duckdb.connect()
    con.execute(
        "create table true_pairs as select l.rid as a, r.rid as b from truth l join truth r "
        "on l.person = r.person and l.rid < r.rid"
    )
    total = con.execute("select count(*) from true_pairs").fetchone()[0]
    assert shares["true pairs"] == total > 2000
    union = []
    for rule in BLOCKING_RULES:
        joins = " union ".join(
            f"select l.rid as a, r.rid as b from keys l join keys r on {c} where l.rid < r.rid"
            for c in rule.conditions()
        )
        union.append(joins)
        found = con.execute(f"select count(*) from true_pairs semi join ({joins}) p using (a, b)").fetchone()[0]
        assert shares[rule.label] == pytest.approx(found / total), rule.label
        assert found > 0, rule.label  # every rule proposes some true pair the others may miss
    anyone = con.execute(
        f"select count(*) from true_pairs semi join ({' union '.join(union)}) p using (a, b)"
    ).fetchone()[0]
    assert shares["any rule"] == pytest.approx(anyone / total)
    assert anyone / total >= 0.995
