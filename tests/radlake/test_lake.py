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


def test_values_present_answers_from_the_snapshot(settings: Settings) -> None:
    uri = f"{settings.lake}/bronze/paths"
    assert lake.values_present(settings, uri, "path", ["/a"]) == set()  # no table yet
    first = pa.table({"path": ["/a", "/b", "/c"], "day": ["2026-11-01", "2026-11-02", "2026-11-02"]})
    lake.replace(settings, uri, first, partition_by=["day"])
    # Day 2 rewritten without /c: its old file stays in the folder, but /c is no longer in the table.
    lake.replace(settings, uri, pa.table({"path": ["/b"], "day": ["2026-11-02"]}), predicate="day = '2026-11-02'")
    assert lake.values_present(settings, uri, "path", ["/a", "/c", "/d", "/a"]) == {"/a"}
    assert lake.values_present(settings, uri, "path", []) == set()


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
    with pytest.raises(LakeError, match=r"cannot read the lake table .*damaged"):  # one line, and no overwrite
        lake.merge(spark, spark.createDataFrame([(2, "b")], schema), uri, ["id"], settings=settings)
    assert log.read_text(encoding="utf-8") == "{ not json"
    assert sorted(p.name for p in (Path(uri) / "_delta_log").glob("*.json")) == [log.name]
    log.write_bytes(kept)
    assert [(r.id, r.v) for r in lake.read(spark, uri).collect()] == [(1, "a")]


# --- Concurrent writers -----------------------------------------------------------------------------------------


def test_s3_commits_use_conditional_put_never_unsafe_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = Settings(lake="s3://bucket/lake", warehouse="/tmp/gold/radlake.duckdb")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_S3_ALLOW_UNSAFE_RENAME", "true")  # a site's leftover: never passed on
    monkeypatch.delenv("AWS_S3_LOCKING_PROVIDER", raising=False)
    opts = lake.storage_options(s3)
    assert opts["conditional_put"] == "etag"
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in opts
    assert opts["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    # A site whose JVM Spark commits through S3DynamoDBLogStore uses the same DynamoDB lock table.
    monkeypatch.setenv("AWS_S3_LOCKING_PROVIDER", "dynamodb")
    monkeypatch.setenv("DELTA_DYNAMO_TABLE_NAME", "delta_log")
    opts = lake.storage_options(s3)
    assert (opts["AWS_S3_LOCKING_PROVIDER"], opts["DELTA_DYNAMO_TABLE_NAME"]) == ("dynamodb", "delta_log")
    assert "conditional_put" not in opts and "AWS_S3_ALLOW_UNSAFE_RENAME" not in opts
    assert lake.storage_options(Settings(lake="/tmp/lake")) == {}


def test_a_lost_race_is_retried_with_backoff_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from deltalake.exceptions import CommitFailedError

    monkeypatch.setattr(lake.commit, "_BACKOFF_S", 0.001)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise CommitFailedError("Failed to commit transaction: 4")
        return "done"

    before = lake.commit_retries()
    assert lake.commit.commit("uri", "append to", flaky) == "done"
    assert len(calls) == 3 and lake.commit_retries() == before + 2

    def always() -> None:
        raise CommitFailedError("Failed to commit transaction: 4")

    with pytest.raises(LakeError, match="append to uri failed: Failed to commit transaction: 4"):
        lake.commit.commit("uri", "append to", always)
    assert lake.commit_retries() == before + 2 + lake.COMMIT_ATTEMPTS - 1


def test_a_retried_append_never_skips_a_batch_another_writer_took(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deltalake
    from deltalake.exceptions import CommitFailedError

    uri = f"{settings.lake}/bronze/t"
    lake.append_idempotent(settings, uri, pa.table({"id": [0]}), app_id="shared", txn_version=1)
    real = deltalake.write_deltalake
    monkeypatch.setattr(lake.commit, "_BACKOFF_S", 0.001)

    def racing(*args, **kwargs):
        # Another process with the same app id wins batch 2 just before this commit: ours is refused.
        monkeypatch.setattr(deltalake, "write_deltalake", real)
        lake.append_idempotent(settings, uri, pa.table({"id": [99]}), app_id="shared", txn_version=2)
        raise CommitFailedError("Failed to commit transaction: 1")

    monkeypatch.setattr(deltalake, "write_deltalake", racing)
    with pytest.raises(LakeError, match="committed by another writer meanwhile"):
        lake.append_idempotent(settings, uri, pa.table({"id": [2]}), app_id="shared", txn_version=2)


def test_a_storage_failure_is_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    settings = Settings(lake=str(blocked))
    with pytest.raises(LakeError) as err:
        lake.append_idempotent(settings, f"{blocked}/bronze/t", pa.table({"id": [1]}), app_id="a", txn_version=1)
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)
