"""Lake upkeep: fewer files and a checkpointed log, the same rows at every version, idempotent, restorable."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cli.main import app
from radlake import lake, maintenance
from radlake.config import RetentionConfig, Settings
from radlake.errors import LakeError

COMMITS = 24


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake=str(tmp_path / "lake"), warehouse=str(tmp_path / "wh" / "gold.duckdb"))


def _stream(settings: Settings, uri: str, commits: int = COMMITS) -> None:
    """Small appends as a streaming writer makes them: one file and one log entry per commit."""
    for i in range(commits):
        batch = pa.table({"id": [i * 3, i * 3 + 1, i * 3 + 2], "day": [f"2026-11-0{1 + i % 3}"] * 3, "v": [str(i)] * 3})
        assert lake.append_idempotent(settings, uri, batch, app_id="stream", txn_version=i, partition_by=["day"])


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table[c].to_pylist() for c in ("id", "day", "v")), strict=True))


def _rows_at(uri: str, version: int | None = None) -> list[tuple]:
    """Rows of a version, read by delta-rs from the snapshot's own file list."""
    from deltalake import DeltaTable

    return _rows(DeltaTable(uri, version=version).to_pyarrow_dataset().to_table())


def _log_entries(uri: str) -> list[str]:
    return [f for f in os.listdir(f"{uri}/_delta_log") if f.endswith(".json")]


def test_maintain_compacts_checkpoints_and_keeps_every_version(settings: Settings, spark) -> None:
    uri = f"{settings.lake}/bronze/stream_log"
    _stream(settings, uri)
    before = {v: _rows_at(uri, v) for v in (0, 7, COMMITS - 1)}
    files_before = len(lake.open_table(settings, uri).file_uris())
    assert files_before == COMMITS

    [report] = maintenance.maintain(settings, ["bronze/stream_log"])

    assert report.files_before == COMMITS and report.files_after == 3  # one file per day partition
    assert report.partitions_rewritten == 3
    assert lake.last_checkpoint_version(settings, uri) == report.version_after
    dt = lake.open_table(settings, uri)
    assert dt.transaction_version("stream") == COMMITS - 1  # idempotent writers still find their last batch
    assert dt.metadata().configuration["delta.deletedFileRetentionDuration"] == "interval 7 days"
    # Spark reads the same rows from the compacted, checkpointed table.
    now = spark.read.format("delta").load(uri).toPandas()
    assert sorted(zip(now["id"], now["day"], now["v"], strict=True)) == before[COMMITS - 1]
    # Time travel inside the window: each earlier version still reads as it did before the rewrite. (Through
    # delta-rs: Sail 0.7.2 cannot time-travel to a version older than the newest checkpoint.)
    for version, rows in before.items():
        assert _rows_at(uri, version) == rows
    # A replayed batch is still a no-op after the rewrite.
    replay = pa.table({"id": [0], "day": ["2026-11-01"], "v": ["0"]})
    assert not lake.append_idempotent(settings, uri, replay, app_id="stream", txn_version=3, partition_by=["day"])


def test_maintain_twice_changes_nothing_the_second_time(settings: Settings) -> None:
    uri = f"{settings.lake}/bronze/stream_log"
    _stream(settings, uri)
    maintenance.maintain(settings)
    version, files, log = lake.table_version(settings, uri), sorted(os.listdir(uri)), sorted(_log_entries(uri))

    [again] = maintenance.maintain(settings)

    assert again.steps == []
    assert lake.table_version(settings, uri) == version
    assert sorted(os.listdir(uri)) == files and sorted(_log_entries(uri)) == log


def test_dry_run_reports_and_writes_nothing(settings: Settings) -> None:
    uri = f"{settings.lake}/bronze/stream_log"
    _stream(settings, uri)
    listing = sorted(p for p, _, _ in os.walk(uri))
    log = sorted(os.listdir(f"{uri}/_delta_log"))

    [report] = maintenance.maintain(settings, dry_run=True)

    assert any(step.startswith("compact") for step in report.steps)
    assert report.files_after == report.files_before == COMMITS
    assert lake.table_version(settings, uri) == COMMITS - 1
    assert sorted(p for p, _, _ in os.walk(uri)) == listing and sorted(os.listdir(f"{uri}/_delta_log")) == log


def test_vacuum_removes_only_files_no_version_in_the_window_needs(settings: Settings) -> None:
    uri = f"{settings.lake}/bronze/stream_log"
    _stream(settings, uri)
    maintenance.maintain(settings)
    live = {os.path.basename(f) for f in lake.open_table(settings, uri).file_uris()}
    on_disk = {f for d, _, fs in os.walk(uri) for f in fs if f.endswith(".parquet") and "_delta_log" not in d}

    # The compacted-away files are younger than any real retention: kept. With no window, they go.
    assert lake.vacuum(settings, uri, retention_days=settings.retention.deleted_file_days, dry_run=True) == []
    gone = lake.vacuum(settings, uri, retention_days=0, dry_run=False)

    assert {os.path.basename(g) for g in gone} == on_disk - live
    assert _rows_at(uri) == _rows(lake.read_arrow(settings, uri))
    with pytest.raises(LakeError, match="outside the retention window"):
        maintenance.restore(settings, "bronze/stream_log", 3)


def test_restore_command_brings_back_an_earlier_version(settings: Settings, tmp_path: Path) -> None:
    uri = f"{settings.lake}/bronze/stream_log"
    _stream(settings, uri, commits=6)
    wanted = _rows_at(uri, 2)
    maintenance.maintain(settings)
    config = tmp_path / "radlake.yaml"
    config.write_text(f"lake: {settings.lake}\nwarehouse: {settings.warehouse}\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["lake", "restore", "-c", str(config), "--table", "bronze/stream_log", "-v", "2"])

    assert result.exit_code == 0, result.output
    assert _rows_at(uri) == wanted
    history = CliRunner().invoke(app, ["lake", "history", "-c", str(config), "--table", "bronze/stream_log"])
    assert "RESTORE" in history.output.upper()


def test_maintain_command_prints_each_table(settings: Settings, tmp_path: Path) -> None:
    _stream(settings, f"{settings.lake}/bronze/stream_log", commits=4)
    _stream(settings, f"{settings.lake}/silver/other", commits=2)
    config = tmp_path / "radlake.yaml"
    config.write_text(f"lake: {settings.lake}\nwarehouse: {settings.warehouse}\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["lake", "maintain", "-c", str(config), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "bronze/stream_log" in result.output and "silver/other" in result.output and "dry run" in result.output
    missing = CliRunner().invoke(app, ["lake", "maintain", "-c", str(config), "--table", "silver/nope"])
    assert missing.exit_code != 0


def test_log_must_outlive_the_files_it_describes() -> None:
    with pytest.raises(ValueError, match="log_days must be at least deleted_file_days"):
        RetentionConfig(deleted_file_days=30, log_days=7)


def test_tables_the_catalog_zorders_are_zordered_per_partition(settings: Settings) -> None:
    from radlake import catalog

    spec = catalog.table("silver", "exams")
    assert spec.zorder_by
    uri = catalog.table_uri(settings, spec)
    for i in range(6):
        batch = pa.table(
            {
                "exam_date": [f"2026-11-0{1 + i % 2}"] * 2,
                "institution": [f"H0{i % 3}", "H09"],
                "modality": ["CT", "MR"],
                "accession_number": [f"A{i}a", f"A{i}b"],
            }
        )
        lake.append_idempotent(settings, uri, batch, app_id="t", txn_version=i, partition_by=["exam_date"])
    before = sorted(lake.read_arrow(settings, uri)["accession_number"].to_pylist())

    [report] = maintenance.maintain(settings, ["silver/exams"])

    assert "z-order 2 partition(s)" in report.steps
    assert report.files_after == 2
    assert sorted(lake.read_arrow(settings, uri)["accession_number"].to_pylist()) == before
    assert maintenance.maintain(settings, ["silver/exams"])[0].steps == []


def test_maintain_without_a_lake_says_so_and_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config, no lake: one line naming the lake and the missing config, a non-zero exit (issue 33)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADLAKE_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["lake", "maintain", "--dry-run"])
    # cli.main.main turns a LakeError into its line on stderr and exit code 4.
    assert isinstance(result.exception, LakeError) and LakeError.exit_code == 4
    assert "nothing to maintain" in str(result.exception) and "no radlake.yaml found" in str(result.exception)
    assert "Lake upkeep" not in result.output  # no empty table
