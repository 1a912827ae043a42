"""A tiny, hand-designed lake (silver exams, name map, patient master; bronze DICOM instances) for the marts.

Every figure the gold tests expect is worked out by hand from the rows below (see the comments); nothing is
derived by running the marts. Values are synthetic: the "personal" ones exist so the PHI scan has something
to find if a mart ever leaked it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pyspark.sql import functions as F

from radlake import catalog, lake
from radlake.config import Settings
from radlake.lake import Lake
from transforms.dicom.rollups import series_rollup, study_rollup
from transforms.exams.build import EXAMS_COLUMNS

CN = timezone(timedelta(hours=8))


def t(text: str) -> datetime:
    """A local (UTC+8) timestamp from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CN)


EXAMS_SCHEMA = (
    "institution string, accession_number string, order_id long, patient_id long, mrn string, empi_id string, "
    "priority string, ordering_department string, raw_exam_name string, modality string, status string, "
    "ordered_at timestamp, exam_started_at timestamp, exam_ended_at timestamp, exam_date date, "
    "device_station string, report_status string, report_written_at timestamp, report_signed_at timestamp, "
    "study_instance_uid string, has_images boolean, exam_codes array<string>, exam_name_status string"
)

# Patients: h01 M8800001 (empi E1), M8800002 (E2); h02 P7700009 (E1, same person), P7700010 (E3).
PERSONAL = {
    "mrn": ["M8800001", "M8800002", "P7700009", "P7700010"],
    "patient_id": ["880000001", "880000002", "770000009", "770000010"],
    "patient_name": ["张伟", "王芳", "ZHANG^WEI"],
}

# fmt: off
EXAMS: list[tuple[Any, ...]] = [
    # A1 chest CT, routine: on H01CT01 09:00-09:10, report written 11:00 (110 min after the end), study S-A1.
    ("h01", "H01A0001", 1, 880000001, "M8800001", "E1", "routine", "呼吸科", "CT胸部平扫", "CT", "completed",
     t("2024-03-04 08:00"), t("2024-03-04 09:00"), t("2024-03-04 09:10"), date(2024, 3, 4), "H01CT01", "signed",
     t("2024-03-04 11:00"), t("2024-03-04 12:00"), "1.2.826.0.1.1", True, ["20030100010000"], "matched"),
    # A2 abdomen CT plain+contrast (advanced), emergency: H01CT01 09:20-09:35, written 10:20 = 45 min: late by 15.
    ("h01", "H01A0002", 2, 880000002, "M8800002", "E2", "emergency", "急诊科", "CT全腹平扫+增强(急)", "CT",
     "completed", t("2024-03-04 09:05"), t("2024-03-04 09:20"), t("2024-03-04 09:35"), date(2024, 3, 4), "H01CT01",
     "signed", t("2024-03-04 10:20"), t("2024-03-04 10:30"), "1.2.826.0.1.2", True, ["20040200030000"], "matched"),
    # A3 brain MR + DWI (advanced: functional), consult: written 270 min after the end (on time), no images.
    ("h01", "H01A0003", 3, 880000001, "M8800001", "E1", "consult", "神经内科", "MR颅脑平扫+DWI", "MR", "completed",
     t("2024-03-04 09:30"), t("2024-03-04 10:00"), t("2024-03-04 10:30"), date(2024, 3, 4), "H01MR01", "signed",
     t("2024-03-04 15:00"), t("2024-03-04 16:00"), None, False, ["30010100010400"], "matched"),
    # A4 chest radiograph, cancelled: never performed.
    ("h01", "H01A0004", 4, 880000002, "M8800002", "E2", "routine", "呼吸科", "胸片", "DX", "cancelled",
     t("2024-03-04 13:00"), None, None, date(2024, 3, 4), None, None, None, None, None, False,
     ["10030100001100"], "matched"),
    # A5 a film fee: a billing line, no exam.
    ("h01", "H01A0005", 5, 880000001, "M8800001", "E1", "routine", "呼吸科", "胶片费", None, "ordered",
     t("2024-03-04 09:00"), None, None, date(2024, 3, 4), None, None, None, None, None, False, [], "not_exam"),
    # A6 coronary CTA (advanced), emergency, on H01CT02 08:00-08:20 next day, no report by the data's as-of
    # (2024-03-05 11:30): missing, 190 min taken, 160 over. Its empi_id E9 is stale (the master says E2).
    ("h01", "H01A0006", 6, 880000002, "M8800002", "E9", "emergency", "心内科", "冠脉CTA", "CT", "completed",
     t("2024-03-05 07:40"), t("2024-03-05 08:00"), t("2024-03-05 08:20"), date(2024, 3, 5), "H01CT02", None,
     None, None, "1.2.826.0.1.6", True, ["20090400050000"], "matched"),
    # B1 gynaecological US, raw name unmatched, no images.
    ("h02", "H02B0001", 1, 770000009, "P7700009", "E1", "routine", "妇产科", "子宫附件彩超XYZ", "US", "completed",
     t("2024-03-04 13:30"), t("2024-03-04 14:00"), t("2024-03-04 14:15"), date(2024, 3, 4), "H02US01", "signed",
     t("2024-03-04 14:40"), t("2024-03-04 15:00"), None, False, None, "unmatched"),
    # B2 HRCT (not advanced), consult: written 835 min after the end: late by 115. Study S-B2 carries the
    # DICOM PatientID of another record (P7700010, empi E3), and no series under 1 mm.
    ("h02", "H02B0002", 2, 770000009, "P7700009", "E1", "consult", "呼吸科", "HRCT肺", "CT", "completed",
     t("2024-03-04 14:30"), t("2024-03-04 15:00"), t("2024-03-04 15:05"), date(2024, 3, 4), "H02CT01", "signed",
     t("2024-03-05 05:00"), t("2024-03-05 06:00"), "1.2.826.0.2.2", True, ["20030100010200"], "matched"),
    # B3 brain MR, raw name under review (its candidate code does not count), no images; latest event 11:30.
    ("h02", "H02B0003", 3, 770000010, "P7700010", "E3", "routine", "神经内科", "头颅核磁", "MR", "completed",
     t("2024-03-05 09:00"), t("2024-03-05 10:00"), t("2024-03-05 10:40"), date(2024, 3, 5), "H02MR01", "signed",
     t("2024-03-05 11:00"), t("2024-03-05 11:30"), None, False, ["30010100010000"], "review"),
]

NAME_MAP_SCHEMA = (
    "institution string, raw_name string, codes array<string>, standard_names array<string>, status string, "
    "confidence double, standard_version string, mapped_by string, mapped_at timestamp"
)
_MAPPED = t("2024-03-01 00:00")
NAME_MAP: list[tuple[Any, ...]] = [
    ("h01", "CT胸部平扫", ["20030100010000"], ["CT胸部（平扫）"], "matched", 0.98, "2026.1", "engine", _MAPPED),
    ("h01", "CT全腹平扫+增强(急)", ["20040200030000"], ["CT全腹（平扫+增强）"], "matched", 0.95, "2026.1", "engine",
     _MAPPED),
    ("h01", "MR颅脑平扫+DWI", ["30010100010400"], ["MR颅脑（平扫+DWI）"], "matched", 0.97, "2026.1", "engine", _MAPPED),
    ("h01", "胸片", ["10030100001100"], ["DR胸部正位"], "matched", 0.9, "2026.1", "steward", _MAPPED),
    ("h01", "胶片费", [], [], "not_exam", 0.99, "2026.1", "engine", _MAPPED),
    ("h01", "冠脉CTA", ["20090400050000"], ["CT冠状动脉（血管成像）"], "matched", 0.96, "2026.1", "engine", _MAPPED),
    ("h01", "MR膝关节", [], [], "unmatched", 0.2, "2026.1", "engine", _MAPPED),  # never ordered here
    ("h02", "子宫附件彩超XYZ", [], [], "unmatched", 0.3, "2026.1", "engine", _MAPPED),
    ("h02", "HRCT肺", ["20030100010200"], ["CT胸部（平扫+高分辨）"], "matched", 0.93, "2026.1", "engine", _MAPPED),
    ("h02", "头颅核磁", ["30010100010000"], ["MR颅脑（平扫）"], "review", 0.6, "2026.1", "engine", _MAPPED),
]

MASTER_SCHEMA = (
    "record_id string, source_system string, mrn string, empi_id string, match_probability double, "
    "link_rule string, linked_at timestamp"
)
MASTER: list[tuple[Any, ...]] = [
    ("h01:M8800001", "ris_h01", "M8800001", "E1", 1.0, "new", _MAPPED),
    ("h01:M8800002", "ris_h01", "M8800002", "E2", 1.0, "new", _MAPPED),
    ("h02:P7700009", "ris_h02", "P7700009", "E1", 0.97, "splink", _MAPPED),
    ("h02:P7700010", "ris_h02", "P7700010", "E3", 1.0, "new", _MAPPED),
]

INSTANCES_SCHEMA = (
    "sop_instance_uid string, sop_class_uid string, study_instance_uid string, series_instance_uid string, "
    "patient_id string, patient_name string, patient_sex string, patient_birth_date date, accession_number string, "
    "modality string, study_date date, study_date_raw string, study_time string, study_description string, "
    "series_description string, body_part_examined string, institution_name string, station_name string, "
    "manufacturer string, manufacturer_model_name string, slice_thickness double, kvp double, exposure_mas double, "
    "transfer_syntax_uid string, specific_character_set string, file_path string, file_sha256 string, "
    "header_json string, ingested_at timestamp, ingest_date date"
)
# fmt: on


def _header(age: str | None, mr: bool = False) -> str:
    """A DICOM JSON header with the attributes the staging model reads from it."""
    header: dict[str, Any] = {"00080060": {"vr": "CS", "Value": ["MR" if mr else "CT"]}}
    if age:
        header["00101010"] = {"vr": "AS", "Value": [age]}
    if mr:
        header["00180080"] = {"vr": "DS", "Value": [2000.0]}
        header["00180081"] = {"vr": "DS", "Value": [90.0]}
    return json.dumps(header)


def _instance(
    uid: str,
    study: str,
    series: str,
    *,
    patient_id: str,
    name: str,
    accession: str | None,
    modality: str,
    station: str,
    body_part: str,
    thickness: float | None,
    kvp: float | None = 120.0,
    mas: float | None = 200.0,
    age: str | None = "045Y",
    institution_name: str = "第一人民医院",
) -> tuple[Any, ...]:
    return (
        uid, "1.2.840.10008.5.1.4.1.1.2", study, series, patient_id, name, "M", date(1979, 5, 1), accession,
        modality, date(2024, 3, 4), "20240304", "090000", "CT", "axial", body_part, institution_name, station,
        "ACME", "Scanner 1", thickness, kvp, mas, "1.2.840.10008.1.2.1", "GB18030", f"/pacs/{uid}.dcm", "0" * 64,
        _header(age, mr=modality == "MR"), t("2024-03-05 12:00"), date(2024, 3, 5),
    )  # fmt: skip


def instances() -> list[tuple[Any, ...]]:
    """The DICOM instances (see the figures in the gold tests)."""
    m1, m2 = PERSONAL["mrn"][0], PERSONAL["mrn"][1]
    return [
        # S-A1 (H01A0001, chest): series 0.625 mm ×2 and 5 mm ×1: a thin reconstruction exists.
        _instance("1.9.1.1", "1.2.826.0.1.1", "1.3.1.1", patient_id=m1, name="张伟", accession="H01A0001",
                  modality="CT", station="H01CT01", body_part="CHEST", thickness=0.625),
        _instance("1.9.1.2", "1.2.826.0.1.1", "1.3.1.1", patient_id=m1, name="张伟", accession="H01A0001",
                  modality="CT", station="H01CT01", body_part="CHEST", thickness=0.625),
        _instance("1.9.1.3", "1.2.826.0.1.1", "1.3.1.2", patient_id=m1, name="张伟", accession="H01A0001",
                  modality="CT", station="H01CT01", body_part="CHEST", thickness=5.0),
        # S-A2 (H01A0002): one 8 mm series (too thick), kVp missing: KVP present on 3 of 4 H01CT01 instances.
        _instance("1.9.2.1", "1.2.826.0.1.2", "1.3.2.1", patient_id=m2, name="王芳", accession="H01A0002",
                  modality="CT", station="H01CT01", body_part="ABDOMEN", thickness=8.0, kvp=None),
        # S-A6 (H01A0006, coronary CTA): 0.6 mm.
        _instance("1.9.6.1", "1.2.826.0.1.6", "1.3.6.1", patient_id=m2, name="王芳", accession="H01A0006",
                  modality="CT", station="H01CT02", body_part="HEART", thickness=0.6),
        # S-B2 (H02B0002, chest): 5 mm and 1.25 mm, nothing under 1 mm; filed under the other record's ID.
        _instance("1.9.22.1", "1.2.826.0.2.2", "1.3.22.1", patient_id="P7700010", name="ZHANG^WEI",
                  accession="H02B0002", modality="CT", station="H02CT01", body_part="CHEST", thickness=5.0,
                  institution_name="第二人民医院"),
        _instance("1.9.22.2", "1.2.826.0.2.2", "1.3.22.2", patient_id="P7700010", name="ZHANG^WEI",
                  accession="H02B0002", modality="CT", station="H02CT01", body_part="CHEST", thickness=1.25,
                  institution_name="第二人民医院"),
        # S-X: an accession number no RIS knows (MR, no field strength in the header).
        _instance("1.9.90.1", "1.2.826.0.9.1", "1.3.90.1", patient_id=m1, name="张伟", accession="H01X9999",
                  modality="MR", station="H01MR01", body_part="KNEE", thickness=3.0, kvp=None, mas=None),
        # S-Y: no accession number at all (a radiograph).
        _instance("1.9.91.1", "1.2.826.0.9.2", "1.3.91.1", patient_id="P7700009", name="ZHANG^WEI",
                  accession=None, modality="DX", station="H02DX01", body_part="CHEST", thickness=None, kvp=70.0,
                  mas=5.0, institution_name="第二人民医院"),
    ]  # fmt: skip


def build_tiny_lake(spark: Any, settings: Settings, *, exams: list[tuple[Any, ...]] | None = None) -> None:
    """Write the tiny lake's tables with Spark through radlake.lake (as the real jobs do)."""
    spec = catalog.table("silver", "exams")
    exams_df = spark.createDataFrame(exams if exams is not None else EXAMS, EXAMS_SCHEMA)
    assert tuple(exams_df.columns) == EXAMS_COLUMNS  # the fixture keeps to the silver/exams contract
    handles = Lake(settings)
    handles.table(spec).spark_overwrite(exams_df)
    lake.overwrite(
        spark.createDataFrame(NAME_MAP, NAME_MAP_SCHEMA),
        catalog.table_uri(settings, catalog.table("silver", "exam_name_map")),
    )
    lake.overwrite(
        spark.createDataFrame(MASTER, MASTER_SCHEMA),
        catalog.table_uri(settings, catalog.table("silver", "patient_master")),
    )
    instances_df = spark.createDataFrame(instances(), INSTANCES_SCHEMA)
    lake.overwrite(
        instances_df,
        catalog.table_uri(settings, catalog.table("bronze", "dicom_instances")),
        partition_by=("ingest_date",),
    )
    # The silver roll-ups by the product's own transform: the marts read these, never bronze, for series/studies.
    rollup_input = (
        instances_df.withColumn("series_number", F.lit(None).cast("int"))
        .withColumn("acquisition_datetime", F.lit(None).cast("timestamp_ntz"))
        .withColumn("number_of_frames", F.lit(1).cast("int"))  # single-frame images
    )
    handles.table("silver", "dicom_series").spark_overwrite(series_rollup(rollup_input))
    handles.table("silver", "dicom_studies").spark_overwrite(study_rollup(rollup_input))
    build_routing_results(settings)


# AI results back from routing (bronze/routing_results), as `radlake route results` links them: (result_id,
# kind, study, AI, landed at). The studies' first images landed at 2024-03-05 12:00 (instances() above).
RESULTS = [
    ("1.9.500.1", "sr", "1.2.826.0.1.1", "ACME lung", t("2024-03-05 12:30")),
    ("json:" + "a" * 64, "json", "1.2.826.0.1.1", "ACME lung", t("2024-03-05 13:00")),
    ("1.9.500.2", "sc", "1.2.826.0.2.2", "ACME lung", t("2024-03-05 12:45")),
    ("json:" + "b" * 64, "json", "1.2.826.0.1.1", "Other AI", t("2024-03-05 16:00")),
]


def build_routing_results(settings: Settings) -> None:
    """Write RESULTS through the results linker's own writer (first image: the study's earliest landing)."""
    from ingestion.routing.results import commit_results

    first = {}
    for row in instances():
        study, landed = row[2], row[-2]
        first[study] = min(first.get(study, landed), landed)
    commit_results(
        settings,
        [
            {"result_id": rid, "kind": kind, "study_instance_uid": study, "series_instance_uid": None, "ai_name": ai,
             "result_at": at, "first_image_at": first[study], "source": "test", "payload_json": ""}
            for rid, kind, study, ai, at in RESULTS
        ],
    )  # fmt: skip
