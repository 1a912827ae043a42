"""The Spark backend (Splink's SparkAPI on the embedded Sail engine) links exactly as the DuckDB one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from simulator.people import generate_registry
from transforms.empi.linkage import LinkageConfig
from transforms.empi.master import PreviousRun, link_patients


def _same_partition(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    merged = a[["record_id", "empi_id"]].merge(b[["record_id", "empi_id"]], on="record_id")
    pairs = (
        merged.groupby("empi_id_x")["empi_id_y"].nunique().max(),
        merged.groupby("empi_id_y")["empi_id_x"].nunique().max(),
    )
    return len(merged) == len(a) == len(b) and pairs == (1, 1)


@pytest.mark.slow
def test_spark_backend_matches_duckdb(spark: Any, model: dict[str, Any], tmp_path: Path) -> None:
    registry = generate_registry(600, ["h01", "h02", "h03"], seed=5).drop(columns=["person_id"])
    first, rest = registry.iloc[:-80], registry
    # Splink's tables as Parquet in a scratch folder, which each run empties.
    on_spark = LinkageConfig(engine="spark", spark=spark, spark_scratch=str(tmp_path / "scratch"))
    on_duckdb = LinkageConfig()
    spark_run = link_patients(first, model=model, config=on_spark)
    duck_run = link_patients(first, model=model, config=on_duckdb)
    assert _same_partition(spark_run.master, duck_run.master)
    # Incremental scoring (predict_between / predict_within) on Spark too.
    spark_next = link_patients(rest, previous=PreviousRun(master=spark_run.master), model=model, config=on_spark)
    duck_next = link_patients(rest, previous=PreviousRun(master=duck_run.master), model=model, config=on_duckdb)
    assert spark_next.stats["relinked_records"] == 80
    assert _same_partition(spark_next.master, duck_next.master)
    assert not any((tmp_path / "scratch").iterdir())


@pytest.mark.slow
def test_spark_edit_distance_counts_bytes_as_duckdb(spark: Any, model: dict[str, Any]) -> None:
    """Addresses three characters apart are seven UTF-8 bytes apart: DuckDB's levenshtein counts bytes, Spark's
    characters, and the model's address level (at most three edits) was set on DuckDB. Both engines must give
    this pair the same score (on Spark it used to reach the fuzzy level and link a stranger)."""
    from transforms.empi.features import record_features
    from transforms.empi.linkage import score_links

    records = pd.DataFrame(
        {
            "record_id": ["a", "b"],
            "name": ["张磊", "张超"],
            "sex": ["F", "M"],
            "birth_date": ["2008-03-03", "1977-05-25"],
            "phone": ["17894869326", "17894869326"],
            "address": ["余杭区中山路305号2幢5单元1701", "余杭区凤起路306号2幢5单元1701"],
        }
    )
    features = record_features(records)
    duck = score_links(features, model, LinkageConfig(review=1e-9, auto_link=1e-9))
    on_spark = score_links(features, model, LinkageConfig(review=1e-9, auto_link=1e-9, engine="spark", spark=spark))
    assert len(duck) == len(on_spark)
    assert duck["match_probability"].to_list() == pytest.approx(on_spark["match_probability"].to_list(), abs=1e-9)
