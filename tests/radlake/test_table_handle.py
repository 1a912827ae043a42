"""Table handles: the one conform (naming table and column), each write mode, keys and partitions from the catalog.

Outcomes are read back with pyarrow from the files the Delta log lists (not through the handle that wrote them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from radlake import catalog
from radlake.config import Settings
from radlake.errors import DataError
from radlake.lake import Lake

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(Settings(lake=str(tmp_path / "lake")))


def _rows(uri: str) -> list[dict]:
    """The table's rows, read from the data files of its current version (partition columns left out)."""
    dt = DeltaTable(uri)
    files = dt.file_uris()
    return pq.read_table(files).to_pylist() if files else []


def _decision(institution: str, raw: str, code: str, by: str = "li") -> dict:
    return {"institution": institution, "raw_name": raw, "codes": [code], "not_exam": False, "decided_by": by,
            "decided_at": NOW, "note": None}  # fmt: skip


def test_the_handle_knows_its_place_keys_partitions_and_schema(lake: Lake) -> None:
    spec = catalog.table("bronze", "hl7_messages")
    handle = lake.table("bronze", "hl7_messages")
    assert handle.uri == f"{lake.settings.lake}/bronze/hl7_messages"
    assert (handle.keys, handle.partition_by) == (("sending_facility", "control_id"), ("receive_date",))
    assert handle.schema == spec.schema and lake.table(spec).uri == handle.uri
    assert [f.name for f in handle.spark_schema.fields] == spec.schema.names
    cdc = lake.cdc_state("ris_h01", "exam_orders", ["order_id"])
    assert cdc.uri.endswith("/silver/ris_h01__exam_orders") and cdc.keys == ("order_id",)
    assert lake.cdc_log("ris_h01", "exam_orders").partition_by == catalog.CDC_LOG_PARTITION_BY
    with pytest.raises(KeyError, match="no table silver/nope"):
        lake.table("silver", "nope")


def test_conform_orders_casts_and_names_table_and_column(lake: Lake) -> None:
    handle = lake.table("silver", "empi_review_queue")
    frame = {name: pa.nulls(1) for name in reversed(handle.schema.names)} | {"records_affected": pa.array(["7"])}
    out = handle.conform(pa.table(frame))
    assert out.schema == handle.schema and out.column("records_affected").to_pylist() == [7]
    with pytest.raises(DataError, match=r"^silver/empi_review_queue\.records_affected: values do not fit int64"):
        handle.conform(pa.table(frame | {"records_affected": pa.array(["seven"])}))
    with pytest.raises(DataError, match="silver/empi_review_queue: the rows to write lack column 'decision'"):
        handle.conform(pa.table({k: v for k, v in frame.items() if k != "decision"}))
    # Python rows too, and inside a write: nothing is committed.
    row = dict.fromkeys(handle.schema.names) | {"record_id_a": "a", "record_id_b": "b", "records_affected": "many"}
    with pytest.raises(DataError, match=r"silver/empi_review_queue\.records_affected"):
        handle.upsert([row])
    assert not handle.exists() and not Path(handle.uri).exists()


def test_upsert_merges_on_the_catalogs_keys(lake: Lake) -> None:
    handle = lake.table("silver", "exam_name_decisions")  # keys: institution, raw_name
    assert handle.upsert([_decision("h01", "CT head", "1"), _decision("h02", "CT head", "2")]) == 2
    # The same name at h01 again (the last row of a key wins), and a new name.
    written = handle.upsert([_decision("h01", "CT head", "3"), _decision("h01", "CT head", "4", by="wang"),
                             _decision("h01", "MR knee", "5")])  # fmt: skip
    assert written == 2
    got = {(r["institution"], r["raw_name"]): (r["codes"], r["decided_by"]) for r in _rows(handle.uri)}
    assert got == {("h01", "CT head"): (["4"], "wang"), ("h02", "CT head"): (["2"], "li"),
                   ("h01", "MR knee"): (["5"], "li")}  # fmt: skip
    assert pa.schema(DeltaTable(handle.uri).schema().to_arrow()).names == handle.schema.names


def test_append_is_idempotent_and_partitioned_as_the_catalog_says(lake: Lake) -> None:
    handle = lake.table("audit", "sql_queries")  # partitioned by query_date
    row = {"query_id": "q1", "started_at": NOW, "query_date": date(2026, 12, 7), "account": "a", "space": "s",
           "database": "d", "client": "c", "statement": "select 1", "row_count": 1, "status": "ok", "error": "",
           "duration_ms": 1.5, "build": "b"}  # fmt: skip
    assert handle.append([row], app_id="t", txn_version=1)
    assert not handle.append([row | {"query_id": "q2"}], app_id="t", txn_version=1)  # a replayed batch
    assert handle.append([row | {"query_id": "q3", "query_date": date(2026, 12, 8)}], app_id="t", txn_version=2)
    dt = DeltaTable(handle.uri)
    assert dt.metadata().partition_columns == ["query_date"]
    assert sorted(p.name for p in Path(handle.uri).iterdir() if p.name.startswith("query_date=")) == [
        "query_date=2026-12-07",
        "query_date=2026-12-08",
    ]
    assert sorted(r["query_id"] for r in _rows(handle.uri)) == ["q1", "q3"]
    assert handle.committed_version("t") == 2 == dt.transaction_version("t")
    assert handle.mark_applied("t", 3) and not handle.mark_applied("t", 3)
    assert DeltaTable(handle.uri).transaction_version("t") == 3


def test_create_then_replace_whole_and_where(lake: Lake) -> None:
    handle = lake.table("silver", "cohort_members")
    assert handle.create() and not handle.create()
    assert DeltaTable(handle.uri).version() == 0 and _rows(handle.uri) == []

    def member(cohort: str, study: str, build: int) -> dict:
        return {"cohort": cohort, "study_instance_uid": study, "build": build, "built_at": NOW}

    handle.replace([member("a", "1", 1), member("a", "2", 1), member("b", "9", 1)])
    handle.replace([member("a", "3", 2)], where="cohort = 'a'")
    got = sorted((r["cohort"], r["study_instance_uid"], r["build"]) for r in _rows(handle.uri))
    assert got == [("a", "3", 2), ("b", "9", 1)]
    handle.replace([], where="cohort = 'b'")  # a prune: no rows in, the matching rows out
    assert [r["study_instance_uid"] for r in _rows(handle.uri)] == ["3"]
    assert handle.read_arrow(["study_instance_uid"]).column(0).to_pylist() == ["3"]


def test_spark_overwrite_conforms_and_merge_uses_the_keys(spark, lake: Lake) -> None:
    handle = lake.table("silver", "hl7_patient_links")
    # Columns in another order and an integer control id: the handle writes the catalog's order and types.
    df = spark.createDataFrame(
        [(7, "r2", "r1"), (8, "r4", "r3")], "control_id int, record_id_b string, record_id_a string"
    )
    with pytest.raises(DataError, match="silver/hl7_patient_links: the rows to write lack column 'institution'"):
        handle.spark_overwrite(df)
    for name in ("institution", "surviving_record_id", "sending_facility", "linked_at"):
        df = df.withColumn(name, F.lit(None))
    handle.spark_overwrite(df)
    assert pa.schema(DeltaTable(handle.uri).schema().to_arrow()).names == handle.schema.names
    assert sorted((r["record_id_a"], r["control_id"]) for r in _rows(handle.uri)) == [("r1", "7"), ("r3", "8")]
    handle.spark_overwrite(df.filter("control_id = 8"), replace_where="record_id_a = 'r3'")
    assert len(_rows(handle.uri)) == 2

    state = lake.cdc_state("src", "visits", ["visit_id"])
    state.spark_merge(spark, spark.createDataFrame([(1, "a"), (2, "b")], "visit_id int, status string"))
    state.spark_merge(spark, spark.createDataFrame([(2, "B"), (3, "c")], "visit_id int, status string"))
    assert sorted((r["visit_id"], r["status"]) for r in _rows(state.uri)) == [(1, "a"), (2, "B"), (3, "c")]
    state.spark_delete(spark, "visit_id = 1")
    assert sorted(r["visit_id"] for r in _rows(state.uri)) == [2, 3]
