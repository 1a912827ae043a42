"""Delta I/O: idempotent appends, snapshot-true reads, MERGE with deletes, replaceWhere, writable checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from radlake import lake
from radlake.config import Settings
from radlake.errors import LakeError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake=str(tmp_path / "lake"))


def test_append_is_idempotent_per_app_transaction(settings: Settings) -> None:
    uri = f"{settings.lake}/bronze/t"
    batch = pa.table({"id": [1, 2], "day": ["2026-11-01", "2026-11-02"]})
    assert lake.append_idempotent(settings, uri, batch, app_id="a", txn_version=1, partition_by=["day"])
    assert not lake.append_idempotent(settings, uri, batch, app_id="a", txn_version=1, partition_by=["day"])
    assert lake.table_version(settings, uri) == 0
    assert lake.committed_version(settings, uri, "a") == 1
    # Another writer's batch 1 is its own.
    assert lake.append_idempotent(settings, uri, batch, app_id="b", txn_version=1, partition_by=["day"])
    data = lake.read_arrow(settings, uri)
    assert data is not None and sorted(data["id"].to_pylist()) == [1, 1, 2, 2]
    assert sorted(set(data["day"].to_pylist())) == ["2026-11-01", "2026-11-02"]


def test_read_follows_the_snapshot_not_the_folder(settings: Settings, spark) -> None:
    uri = f"{settings.lake}/silver/snap"
    lake.overwrite(spark.createDataFrame([(1,), (2,)], "id long"), uri)
    lake.overwrite(spark.createDataFrame([(3,)], "id long"), uri)
    data = lake.read_arrow(settings, uri)
    assert data is not None and data["id"].to_pylist() == [3]  # the old files are still in the folder
    assert lake.read_arrow(settings, f"{settings.lake}/silver/none") is None


def test_merge_upserts_and_deletes(settings: Settings, spark) -> None:
    uri = f"{settings.lake}/silver/m"
    schema = "id long, v string, _deleted boolean"
    lake.merge(
        spark,
        spark.createDataFrame([(1, "a", False), (2, "b", False), (3, "gone", True)], schema),
        uri,
        ["id"],
        settings=settings,
        delete_flag="_deleted",
    )
    lake.merge(
        spark,
        spark.createDataFrame([(1, "A", False), (2, None, True), (4, "d", False)], schema),
        uri,
        ["id"],
        settings=settings,
        delete_flag="_deleted",
    )
    rows = sorted((r.id, r.v) for r in lake.read(spark, uri).collect())
    assert rows == [(1, "A"), (4, "d")]
    assert "_deleted" not in lake.read(spark, uri).columns


def test_replace_where_touches_only_the_matching_rows(settings: Settings, spark) -> None:
    uri = f"{settings.lake}/silver/p"
    schema = "id long, day string"
    lake.overwrite(spark.createDataFrame([(1, "d1"), (2, "d2")], schema), uri, partition_by=["day"])
    lake.overwrite(spark.createDataFrame([(9, "d2")], schema), uri, partition_by=["day"], replace_where="day = 'd2'")
    assert sorted((r.id, r.day) for r in lake.read(spark, uri).collect()) == [(1, "d1"), (9, "d2")]


def test_missing_table_is_a_one_line_lake_error(settings: Settings, spark) -> None:
    with pytest.raises(LakeError, match="no readable Delta table"):
        lake.read(spark, f"{settings.lake}/silver/absent")


def test_unwritable_lake_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the lake folder should be")
    with pytest.raises(LakeError, match=r"lake .* is not writable"):
        lake.ensure_writable(Settings(lake=str(blocker / "lake")))


def test_merge_never_replaces_a_table_it_cannot_open(settings: Settings, spark) -> None:
    """A damaged log is an error, not an absent table: the rows already landed stay."""
    uri = f"{settings.lake}/silver/damaged"
    schema = "id long, v string"
    lake.merge(spark, spark.createDataFrame([(1, "a")], schema), uri, ["id"], settings=settings)
    log = Path(uri) / "_delta_log" / "00000000000000000000.json"
    kept = log.read_bytes()
    log.write_text("{ not json", encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - whatever the engine raises, it must not overwrite
        lake.merge(spark, spark.createDataFrame([(2, "b")], schema), uri, ["id"], settings=settings)
    assert log.read_text(encoding="utf-8") == "{ not json"
    assert sorted(p.name for p in (Path(uri) / "_delta_log").glob("*.json")) == [log.name]
    log.write_bytes(kept)
    assert [(r.id, r.v) for r in lake.read(spark, uri).collect()] == [(1, "a")]
