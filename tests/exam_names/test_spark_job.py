"""Tests of the Spark side on the embedded engine (Sail): the name map and the join onto exams."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest

from transforms.exam_names.decisions import Decision
from transforms.exam_names.spark_job import (
    EXAM_CODE_COLUMNS,
    EXAM_NAME_MAP_SCHEMA,
    EngineFactory,
    apply_exam_codes,
    map_exam_names,
)

pytestmark = pytest.mark.slow

ORDERS = [
    ("h01", "A1", "CT头颅平扫"),
    ("h01", "A2", "CT头颅平扫"),  # the same name twice: mapped once
    ("h01", "A3", "胶片费"),
    ("h01", "A4", "头颅平扫"),
    ("h02", "B1", "头颅平扫"),
    ("h02", "B2", "CT胸部+上腹部平扫"),
    ("h02", "B3", None),
]


@pytest.fixture(scope="module")
def orders(spark):
    return spark.createDataFrame(ORDERS, "institution string, accession_number string, raw_exam_name string")


@pytest.fixture(scope="module")
def name_map(orders, standard):
    factory = EngineFactory(standard.version, (Decision("h02", "头颅平扫", ("30010100010000",)),))
    df = map_exam_names(orders, factory, name_column="raw_exam_name")
    return {(r["institution"], r["raw_name"]): r for r in df.collect()}, df


def test_schema_and_distinct_names(name_map):
    rows, df = name_map
    assert df.schema == EXAM_NAME_MAP_SCHEMA
    expected = {(i, n) for i, _, n in ORDERS if n is not None}
    assert sorted(rows) == sorted(expected) and len(expected) == 5


def test_rows_carry_the_engine_result(name_map, standard):
    rows, _ = name_map
    head = rows[("h01", "CT头颅平扫")]
    assert list(head["codes"]) == ["20010100010000"]
    assert list(head["standard_names"]) == ["CT颅脑（平扫）"]
    assert (head["status"], head["mapped_by"], head["standard_version"]) == ("matched", "engine", standard.version)
    assert head["confidence"] == 1.0 and head["mapped_at"] is not None
    assert list(rows[("h02", "CT胸部+上腹部平扫")]["codes"]) == ["20030100010000", "20040100010000"]
    film = rows[("h01", "胶片费")]
    assert (list(film["codes"]), film["status"]) == ([], "not_exam")


def test_steward_decisions_are_reapplied_per_institution(name_map):
    rows, _ = name_map
    decided = rows[("h02", "头颅平扫")]
    assert (list(decided["codes"]), decided["mapped_by"], decided["status"]) == (
        ["30010100010000"],
        "steward",
        "matched",
    )
    # h01's identical name is not decided by the steward; it follows the decision as a learned synonym.
    assert rows[("h01", "头颅平扫")]["mapped_by"] == "engine"


def test_apply_exam_codes_keeps_every_exam(spark, orders, name_map):
    _, df = name_map
    out = apply_exam_codes(orders, df)
    assert out.count() == len(ORDERS)
    for column, _ in EXAM_CODE_COLUMNS:
        assert column in out.columns
    got = {r["accession_number"]: r for r in out.collect()}
    assert list(got["A2"]["exam_codes"]) == ["20010100010000"]
    assert got["A3"]["exam_name_status"] == "not_exam"
    assert list(got["B1"]["exam_codes"]) == ["30010100010000"]
    assert got["B3"]["exam_codes"] is None  # no name, no mapping


def test_apply_exam_codes_before_any_map_gives_null_codes(orders):
    out = apply_exam_codes(orders, None)
    assert [c for c, _ in EXAM_CODE_COLUMNS] == out.columns[-len(EXAM_CODE_COLUMNS) :]
    rows = out.collect()
    assert len(rows) == len(ORDERS) and all(r["exam_codes"] is None and r["exam_name_status"] is None for r in rows)


@dataclass(frozen=True)
class CountingFactory(EngineFactory):
    """Appends a line to a file per engine built: the count is visible whatever process the worker is."""

    log: str = ""

    def __call__(self):
        with open(self.log, "a") as fh:
            fh.write("built\n")
        return super().__call__()


def test_engine_is_built_once_per_worker_not_per_row(spark, standard, tmp_path):
    log = tmp_path / "builds.log"
    data = [("h01", f"CT头颅平扫{i}") for i in range(200)]
    names = spark.createDataFrame(data, "institution string, raw_name string")
    rows = map_exam_names(names.repartition(8), CountingFactory(standard.version, log=str(log))).collect()
    assert len(rows) == 200
    # Built once per worker process, reused across its partitions: fewer builds than the 8 partitions.
    assert 1 <= log.read_text().count("built") < 8


def test_job_maps_the_orders_of_every_source_into_the_lake(spark, tmp_path, standard):
    from deltalake import write_deltalake

    from radlake.config import Settings
    from transforms.exam_names.job import build_exam_name_map
    from transforms.exam_names.store import name_map_uri, read_name_map, save_decisions

    settings = Settings(
        lake=str(tmp_path / "lake"),
        sources={
            "ris_h01": {"dsn": "postgresql://unused/ris_h01", "institution": "h01"},
            "ris_h02": {"dsn": "postgresql://unused/ris_h02", "institution": "h02"},
        },
    )
    for source, names in (("ris_h01", ["CT头颅平扫", "头颅平扫", "CT头颅平扫"]), ("ris_h02", ["胸片"])):
        uri = f"{settings.lake}/silver/{source}__exam_orders"
        rows = {"order_id": list(range(len(names))), "raw_exam_name": names}
        write_deltalake(uri, pa.table(rows))
    save_decisions(settings, [Decision("h01", "头颅平扫", ("30010100010000",), steward="li")])
    assert build_exam_name_map(spark, settings) == 3
    rows = {(r["institution"], r["raw_name"]): r for r in read_name_map(settings)}
    assert set(rows) == {("h01", "CT头颅平扫"), ("h01", "头颅平扫"), ("h02", "胸片")}
    assert rows[("h01", "头颅平扫")]["mapped_by"] == "steward"
    assert rows[("h02", "胸片")]["codes"] == ["10030100001100"]
    assert rows[("h01", "CT头颅平扫")]["standard_version"] == standard.version
    assert name_map_uri(settings).endswith("silver/exam_name_map")
