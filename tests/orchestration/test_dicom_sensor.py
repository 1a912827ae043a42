"""The DICOM watch-folder sensor finds arrivals by inventory: a file copied in with an old mtime is landed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml

from orchestration.bronze.assets import dicom_assets
from orchestration.bronze.sensors import RETRY_SECONDS, dicom_arrival_sensor
from orchestration.resources import RadlakeResource
from radlake import catalog, lake
from radlake.config import Settings

UID = "1.2.826.0.1.3680043.10.543.134"


def _instance(sop: str) -> bytes:
    import io

    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Modality = "CT"
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, Path, dg.SensorDefinition, dg.AssetsDefinition, RadlakeResource]:
    watch = tmp_path / "watch"
    watch.mkdir()
    raw = {"lake": str(tmp_path / "lake"), "dicom": {"watch": [str(watch)]},
           "schedule": {"partitions_start": "2024-01-01"}}  # fmt: skip
    config = tmp_path / "radlake.yaml"
    config.write_text(yaml.safe_dump(raw))
    resource = RadlakeResource(config_path=str(config))
    settings = resource.settings()
    sensor = dicom_arrival_sensor(settings, dg.define_asset_job("dicom_ingest", selection="*"))
    return settings, watch, sensor, dicom_assets(settings), resource


def _landed(settings: Settings) -> list[str]:
    table = lake.read_arrow(settings, catalog.uri(settings, "bronze", "dicom_files"), columns=["file_path"])
    return [] if table is None else sorted(table.column("file_path").to_pylist())


def _run(asset: dg.AssetsDefinition, resource: RadlakeResource, request: dg.RunRequest) -> None:
    result = dg.materialize([asset], partition_key=request.partition_key, resources={"radlake": resource})
    assert result.success


def test_a_file_copied_with_a_30_day_old_mtime_is_landed_by_the_next_tick(setup) -> None:
    settings, watch, sensor, asset, resource = setup
    today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
    assert isinstance(sensor(dg.build_sensor_context(cursor=None)), dg.SensorResult | dg.SkipReason)

    fresh = watch / "a" / "IM1"
    fresh.parent.mkdir()
    fresh.write_bytes(_instance(f"{UID}.1"))
    first = sensor(dg.build_sensor_context(cursor=None))
    assert [r.partition_key for r in first.run_requests] == [today]
    _run(asset, resource, first.run_requests[0])
    assert _landed(settings) == [str(fresh)]
    quiet = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert not quiet.run_requests  # landed: nothing to ask for

    # Copied in later, keeping a modification time of 30 days ago (cp -p, rsync -a): older than anything
    # the sensor saw before, so an mtime cursor would never see it.
    old = watch / "b" / "IM2"
    old.parent.mkdir()
    old.write_bytes(_instance(f"{UID}.2"))
    subprocess.run(["touch", "-d", "30 days ago", str(old)], check=True)
    assert time.time() - old.stat().st_mtime > 29 * 86400
    second = sensor(dg.build_sensor_context(cursor=quiet.cursor))
    assert [r.partition_key for r in second.run_requests] == [today]  # documented: the day it was seen
    _run(asset, resource, second.run_requests[0])
    assert _landed(settings) == sorted([str(fresh), str(old)])
    assert not sensor(dg.build_sensor_context(cursor=second.cursor)).run_requests


def test_one_request_per_arrival_until_it_lands_and_a_retry_after_a_failed_run(setup) -> None:
    _settings, watch, sensor, _asset, _resource = setup
    (watch / "IM1").write_bytes(_instance(f"{UID}.3"))
    first = sensor(dg.build_sensor_context(cursor=None))
    assert len(first.run_requests) == 1
    # The run has not landed it yet: the next tick does not ask again.
    waiting = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert not waiting.run_requests and "1 requested, not landed yet" in waiting.skip_reason.skip_message
    # Another file arrives meanwhile: one more run.
    (watch / "IM2").write_bytes(_instance(f"{UID}.4"))
    more = sensor(dg.build_sensor_context(cursor=waiting.cursor))
    assert len(more.run_requests) == 1 and more.run_requests[0].run_key != first.run_requests[0].run_key
    # Both runs failed: after RETRY_SECONDS the files are requested again.
    state = json.loads(more.cursor)
    aged = json.dumps({"requested": {k: t - RETRY_SECONDS - 1 for k, t in state["requested"].items()}})
    retry = sensor(dg.build_sensor_context(cursor=aged))
    assert len(retry.run_requests) == 1
    # File names never enter Dagster's storage.
    assert "IM1" not in retry.cursor and str(watch) not in retry.cursor


def test_files_still_being_copied_wait_and_old_cursors_are_accepted(tmp_path: Path) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    settings = Settings(lake=str(tmp_path / "lake"), dicom={"watch": [watch], "settle_seconds": 60})
    sensor = dicom_arrival_sensor(settings, dg.define_asset_job("dicom_ingest", selection="*"))
    copying = watch / "IM1"
    copying.write_bytes(b"x")  # modified just now: maybe still being copied
    skip = sensor(dg.build_sensor_context(cursor="1764000000.5"))  # a cursor of the mtime-based sensor
    assert not skip.run_requests and "1 still settling" in skip.skip_reason.skip_message
    os.utime(copying, (time.time() - 120, time.time() - 120))
    assert len(sensor(dg.build_sensor_context(cursor=skip.cursor)).run_requests) == 1


def test_which_files_a_day_partition_run_lands(tmp_path: Path) -> None:
    from datetime import timedelta

    from orchestration.bronze.arrivals import files_arrived

    zone = "Asia/Shanghai"
    today = datetime.now(ZoneInfo(zone)).date()
    files = {}
    for name, days_ago in (("old", 30), ("yesterday", 1), ("today", 0), ("future", -3)):
        path = tmp_path / name
        path.write_bytes(b"x")
        moment = datetime.now(ZoneInfo(zone)) - timedelta(days=days_ago)
        os.utime(path, (moment.timestamp(), moment.timestamp()))
        files[name] = path
    # Today's run (what the sensor asks for) takes every file; ingestion skips those already landed.
    assert files_arrived([tmp_path], today, today, zone) == sorted(files.values())
    # A backfill of yesterday takes yesterday's files and older ones copied in late, not today's.
    yesterday = today - timedelta(days=1)
    assert files_arrived([tmp_path], yesterday, yesterday, zone) == sorted([files["old"], files["yesterday"]])
