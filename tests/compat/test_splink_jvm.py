"""EMPI on a cluster: Splink's Spark backend on JVM Spark scores the same pairs as the embedded DuckDB engine."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.slow


def test_splink_spark_backend_on_jvm_spark_matches_duckdb(jvm_spark) -> None:
    from simulator.people import generate_registry
    from transforms.empi.features import record_features
    from transforms.empi.linkage import LinkageConfig, score_links, train_model

    logging.getLogger("splink").setLevel(logging.WARNING)
    registry = generate_registry(300, ["h01", "h02"], seed=7).drop(columns=["person_id"])
    features = record_features(registry)
    duck = LinkageConfig(u_max_pairs=5e4, em_max_pairs=5e4)
    model = train_model(features, duck)

    on_duckdb = score_links(features, model, duck)
    on_jvm = score_links(features, model, LinkageConfig(engine="spark", spark=jvm_spark))

    def pairs(df):
        scored = df[df["rule"] != "id_number"]
        return {
            (min(a, b), max(a, b)): round(float(p), 6)
            for a, b, p in zip(scored["rid_l"], scored["rid_r"], scored["match_probability"], strict=True)
        }

    expected = pairs(on_duckdb)
    assert expected, "the registry produced no scored pair: the comparison would prove nothing"
    assert pairs(on_jvm) == expected
    id_pairs = on_duckdb[on_duckdb["rule"] == "id_number"][["rid_l", "rid_r"]]
    assert sorted(map(tuple, id_pairs.to_numpy())) == sorted(
        map(tuple, on_jvm[on_jvm["rule"] == "id_number"][["rid_l", "rid_r"]].to_numpy())
    )
