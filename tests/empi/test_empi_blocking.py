"""Blocking on the hard registry: the pairs it proposes, how many true pairs they hold, and a run that spills."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.people import generate_registry
from transforms.empi.clusters import cluster_records
from transforms.empi.features import record_features
from transforms.empi.linkage import (
    BLOCKING_RULES,
    LinkageConfig,
    _blocked_pairs_duckdb,
    _model_input,
    _register,
    make_db_api,
    pair_completeness,
    score_links,
    train_model,
)
from transforms.empi.outofcore import link_registry

logging.getLogger("splink").setLevel(logging.WARNING)

INSTITUTIONS = [f"h{i:02d}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def hard() -> tuple[pd.DataFrame, pd.DataFrame]:
    """About 12,000 registrations of the hard registry and their features."""
    registry = generate_registry(6000, INSTITUTIONS, seed=29, hard=True)
    return registry, record_features(registry.drop(columns=["person_id"]))


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["join_key_l"].tolist(), frame["join_key_r"].tolist(), strict=True))


def test_rule_by_rule_blocking_finds_splinks_pairs(hard: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The EMPI's own rule-by-rule blocking proposes exactly the pairs Splink's blocking does, with equal scores."""
    from splink import Linker

    _, features = hard
    model = train_model(features, LinkageConfig(u_max_pairs=2e5, em_max_pairs=2e5))
    scored = []
    for ours in (False, True):
        db_api = make_db_api(LinkageConfig())
        records = _register(db_api, _model_input(features))
        linker = Linker(records, model, log_level=None)
        if ours:
            linker.table_management.register_blocked_pairs_for_predict(
                _blocked_pairs_duckdb(db_api, records.physical_name)
            )
        frame = linker.inference.predict(warning_mode="never").as_pandas_dataframe()
        scored.append(frame.set_index(["rid_l", "rid_r"])["match_probability"].sort_index())
    splinks, mine = scored
    assert len(splinks) > len(features)  # not trivially empty
    assert mine.index.equals(splinks.index)
    assert np.allclose(mine.to_numpy(), splinks.to_numpy())


def test_pair_completeness_on_the_hard_registry(hard: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """At least 99.5% of true pairs are proposed by some rule, counted from the SQL pairs and the truth."""
    registry, features = hard
    db_api = make_db_api(LinkageConfig())
    records = _register(db_api, _model_input(features))
    blocked = _pairs(_blocked_pairs_duckdb(db_api, records.physical_name).as_pandas_dataframe())
    person = registry["person_id"].to_numpy()
    truth = pd.DataFrame({"p": person, "rid": np.arange(len(person))})
    both = truth.merge(truth, on="p")
    both = both[both["rid_x"] < both["rid_y"]]
    true_pairs = list(zip(both["rid_x"].tolist(), both["rid_y"].tolist(), strict=True))
    found = sum(pair in blocked for pair in true_pairs) / len(true_pairs)
    assert found >= 0.995
    shares = pair_completeness(features, person)
    assert shares["any rule"] == pytest.approx(found)
    assert shares["true pairs"] == len(true_pairs)
    assert set(shares) == {r.label for r in BLOCKING_RULES} | {"any rule", "true pairs"}


@pytest.mark.slow
def test_a_run_under_a_memory_limit_gives_the_same_clusters(tmp_path: Path) -> None:
    """200,000 records linked out of core (:func:`link_registry`: features, blocking and scoring in a DuckDB
    database file) under a 150 MB limit (Splink's own one-query blocking fails under 300 MB) give the same persons
    as the pairs scored in memory without a limit; and the limit is applied (far too low a limit fails with
    DuckDB's out-of-memory error)."""
    registry = generate_registry(97_000, INSTITUTIONS, seed=5, hard=True)
    records = registry.drop(columns=["person_id"])
    assert len(records) >= 200_000
    features = record_features(records)
    model = train_model(features, LinkageConfig(u_max_pairs=2e5, em_max_pairs=2e5, train_records=50_000))
    spill = tmp_path / "spill"
    limits = LinkageConfig(memory_limit="150MB", temp_directory=str(spill))
    free = score_links(features, model)
    # Both runs link at the same threshold (the default), so only the memory limit differs.
    a = cluster_records(features, free, auto_link=limits.auto_link).root
    assert len(np.unique(a)) < len(records)  # persons were linked at all
    records.to_parquet(tmp_path / "registry.parquet")
    limited = link_registry(tmp_path / "registry.parquet", tmp_path / "run", model=model, config=limits)
    assert not any(spill.iterdir())  # the run's database file (features, Splink's tables) is gone
    assert limited.stats["pairs_scored"] == len(free)
    empi = pd.read_parquet(limited.files.master, columns=["empi_id"])["empi_id"].to_numpy()
    # The same partition of the records: each cluster of one run is exactly one person of the other.
    both = pd.DataFrame({"root": a, "empi": empi})
    assert both.groupby("root")["empi"].nunique().max() == 1
    assert both.groupby("empi")["root"].nunique().max() == 1
    with pytest.raises(Exception, match="Out of Memory"):
        score_links(features, model, LinkageConfig(memory_limit="20MB", temp_directory=str(spill)))
