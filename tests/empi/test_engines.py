"""The Spark backend (Splink's SparkAPI on the embedded Sail engine) links exactly as the DuckDB one."""

from __future__ import annotations

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
def test_spark_backend_matches_duckdb(spark: Any, model: dict[str, Any]) -> None:
    registry = generate_registry(600, ["h01", "h02", "h03"], seed=5).drop(columns=["person_id"])
    first, rest = registry.iloc[:-80], registry
    on_spark = LinkageConfig(engine="spark", spark=spark)
    on_duckdb = LinkageConfig()
    spark_run = link_patients(first, model=model, config=on_spark)
    duck_run = link_patients(first, model=model, config=on_duckdb)
    assert _same_partition(spark_run.master, duck_run.master)
    # Incremental scoring (predict_between / predict_within) on Spark too.
    spark_next = link_patients(rest, previous=PreviousRun(master=spark_run.master), model=model, config=on_spark)
    duck_next = link_patients(rest, previous=PreviousRun(master=duck_run.master), model=model, config=on_duckdb)
    assert spark_next.stats["relinked_records"] == 80
    assert _same_partition(spark_next.master, duck_next.master)
