"""Series and study roll-ups: the pure transforms on a tiny frame, and the job over an ingested corpus."""

from __future__ import annotations

import datetime as dt

from dicom_corpus import INSTANCES, rows

from ingestion.dicom.api import ingest_dicom
from radlake import catalog, lake
from radlake.config import Settings
from radlake.lake import Lake
from transforms.dicom.job import build_dicom_rollups
from transforms.dicom.rollups import SERIES_SCHEMA, STUDY_SCHEMA, series_rollup, study_rollup

COLUMNS = (
    "sop_instance_uid string, study_instance_uid string, series_instance_uid string, patient_id string, "
    "patient_name string, patient_sex string, patient_birth_date date, accession_number string, modality string, "
    "study_date date, study_date_raw string, study_time string, study_description string, series_number int, "
    "series_description string, body_part_examined string, institution_name string, station_name string, "
    "manufacturer string, manufacturer_model_name string, slice_thickness double, "
    "acquisition_datetime timestamp_ntz, ingested_at timestamp, number_of_frames int"
)


def _instance(sop, study, series, modality, thickness, minute, station="CT01", frames=1):
    day = dt.date(2026, 11, 1)
    return (
        sop, study, series, "M1", "张^伟", "F", dt.date(1970, 2, 15), "h01A1", modality, day, "20261101", "0830",
        "胸部CT", 1, "AX", "CHEST", "第一人民医院", station, "ACME", "X9", thickness,
        dt.datetime(2026, 11, 1, 8, minute), dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC), frames,
    )  # fmt: skip


def test_rollups_on_a_tiny_frame(spark) -> None:
    df = spark.createDataFrame(
        [
            _instance("1", "S1", "S1.1", "CT", 1.25, 30, frames=3),
            _instance("2", "S1", "S1.1", "CT", 5.0, 31),
            _instance("2", "S1", "S1.1", "CT", 5.0, 31),  # landed twice: its frame counts once
            _instance("3", "S1", "S1.1", "CT", 2.5, 35, station="CT02"),
            _instance("4", "S1", "S1.2", "PR", None, 40, frames=None),  # no pixel data
            _instance("5", "S2", "S2.1", "MR", 3.0, 10, frames=2000),
            _instance("6", None, None, "MR", 3.0, 10),  # no UIDs: left out of both
        ],
        COLUMNS,
    )
    series = {r["series_instance_uid"]: r for r in series_rollup(df).collect()}
    assert set(series) == {"S1.1", "S1.2", "S2.1"}
    s = series["S1.1"]
    assert (s["instance_count"], s["min_slice_thickness"], s["max_slice_thickness"]) == (3, 1.25, 5.0)
    assert {k: r["frame_count"] for k, r in series.items()} == {"S1.1": 5, "S1.2": 0, "S2.1": 2000}
    assert (s["first_acquired_at"], s["last_acquired_at"]) == (
        dt.datetime(2026, 11, 1, 8, 30),
        dt.datetime(2026, 11, 1, 8, 35),
    )
    assert s["station_name"] == "CT01" and s["study_instance_uid"] == "S1"
    studies = {r["study_instance_uid"]: r for r in study_rollup(df).collect()}
    assert set(studies) == {"S1", "S2"}
    one = studies["S1"]
    assert (one["series_count"], one["instance_count"], one["modalities"]) == (2, 4, ["CT", "PR"])
    assert (one["frame_count"], studies["S2"]["frame_count"]) == (5, 2000)
    assert one["accession_number"] == "h01A1" and one["institution_name"] == "第一人民医院"
    assert one["patient_id"] == "M1" and one["study_date"] == dt.date(2026, 11, 1)
    assert (one["first_acquired_at"], one["last_acquired_at"]) == (
        dt.datetime(2026, 11, 1, 8, 30),
        dt.datetime(2026, 11, 1, 8, 40),
    )
    lake_handles = Lake(Settings(lake="/nonexistent"))
    for out, schema, name in (
        (series_rollup(df), SERIES_SCHEMA, "dicom_series"),
        (study_rollup(df), STUDY_SCHEMA, "dicom_studies"),
    ):
        # The transform makes the contract's columns; the table's handle conforms order and types on write.
        assert set(out.columns) == set(schema.names)
        written = lake_handles.table("silver", name).conform_spark(out)
        assert [(f.name, f.dataType) for f in written.schema] == [(f.name, f.dataType) for f in schema]


def test_job_writes_silver_from_bronze(spark, corpus, settings) -> None:
    ingest_dicom(settings, [corpus.root], workers=0)
    counts = build_dicom_rollups(spark, settings)
    instances = rows(settings, INSTANCES)
    assert counts["silver/dicom_series"] == len(
        {r["series_instance_uid"] for r in instances if r["series_instance_uid"]}
    )
    assert counts["silver/dicom_studies"] == len(
        {r["study_instance_uid"] for r in instances if r["study_instance_uid"]}
    )
    studies = lake.read_arrow(
        settings, catalog.table_uri(settings, catalog.table("silver", "dicom_studies"))
    ).to_pylist()
    by_uid = {r["study_instance_uid"]: r for r in studies}
    plain = next(r for r in instances if r["file_path"] == corpus.names["plain_1_1"])
    study = by_uid[plain["study_instance_uid"]]
    same_study = [r for r in instances if r["study_instance_uid"] == plain["study_instance_uid"]]
    assert study["instance_count"] == len(same_study)
    assert study["series_count"] == len({r["series_instance_uid"] for r in same_study})
    assert list(study["modalities"]) == sorted({r["modality"] for r in same_study})
