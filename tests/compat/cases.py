"""The pure Spark transforms of radlake on tiny in-memory inputs: one case per transform and input shape.

Both lanes import this module: the Sail lane inside pytest, the JVM lane in ``jvm_lane.py`` (a subprocess).
A case builds its inputs with ``spark.createDataFrame`` only (no lake, no files), so the two engines see the
same data and must return the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

UTC = dt.UTC


@dataclass(frozen=True)
class Case:
    """One transform call on fixed inputs.

    Attributes
    ----------
    name
        Unique, file-name safe.
    covers
        ``module:function`` of each pure transform the case calls (checked against the transforms found).
    build
        Builds the inputs on the given session and returns the transform's output.
    unordered_arrays
        Array columns whose element order the transform does not define (compared as sorted lists).
    """

    name: str
    covers: tuple[str, ...]
    build: Callable[[SparkSession], DataFrame]
    unordered_arrays: tuple[str, ...] = ()


CASES: dict[str, Case] = {}


def case(name: str, *covers: str, unordered_arrays: tuple[str, ...] = ()) -> Callable:
    """Register a case builder under ``name``."""

    def register(build: Callable[[SparkSession], DataFrame]) -> Callable[[SparkSession], DataFrame]:
        if name in CASES:
            raise ValueError(f"duplicate compat case {name}")
        CASES[name] = Case(name, covers, build, unordered_arrays)
        return build

    return register


def _t(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# --- transforms.exams ---------------------------------------------------------------------------------------


def _ris(spark: SparkSession) -> tuple[DataFrame, ...]:
    """Two institutions; a re-done exam, an amended report, a billing line, a cancelled order, a day edge."""
    orders = spark.createDataFrame(
        [
            ("h01", 1, "H01A1", 10, 100, 1, "routine", "CT头颅平扫", "CT", "completed", _t(1, 1)),
            ("h01", 2, "H01A2", 10, 100, 1, "emergency", "胸片", None, "completed", _t(1, 15)),
            ("h01", 3, "H01A3", 10, 101, 1, "routine", "胶片费", None, "completed", _t(1, 2)),
            ("h01", 4, "H01A4", 12, 101, 9, "routine", "CT胸部平扫", "CT", "scheduled", _t(2, 23)),
            ("h02", 1, "H02A1", 11, 100, 2, "consult", "MR颅脑", "MR", "cancelled", _t(2, 2)),
            ("h02", 2, "H02A2", 11, 102, 2, "routine", "MR 腰椎", "MR", "completed", _t(2, 3)),
        ],
        "institution string, order_id long, accession_number string, visit_id long, patient_id long, "
        "ordering_department_id int, priority string, raw_exam_name string, modality string, status string, "
        "ordered_at timestamp",
    )
    records = spark.createDataFrame(
        [
            ("h01", 1, 1, 5, _t(1, 2), _t(1, 2, 10)),
            ("h01", 2, 2, 6, _t(1, 15, 50), _t(1, 15, 55)),
            # Order 2 re-done after midnight in Shanghai (16:05 UTC): the later record and the next local day.
            ("h01", 3, 2, 6, _t(1, 16, 5), _t(1, 16, 8)),
            ("h02", 1, 2, 7, _t(2, 3, 30), None),
        ],
        "institution string, record_id long, order_id long, device_id int, started_at timestamp, ended_at timestamp",
    )
    reports = spark.createDataFrame(
        [
            ("h01", 1, 1, "written", _t(1, 3), None, _t(1, 3)),
            ("h01", 2, 1, "signed", _t(1, 3), _t(1, 4), _t(1, 4)),
            ("h02", 1, 2, "written", _t(2, 5), None, _t(2, 5)),
        ],
        "institution string, report_id long, order_id long, status string, written_at timestamp, "
        "signed_at timestamp, updated_at timestamp",
    )
    departments = spark.createDataFrame(
        [("h01", 1, "放射科"), ("h02", 2, "急诊科")], "institution string, department_id int, name string"
    )
    devices = spark.createDataFrame(
        [("h01", 5, "CT01", "CT"), ("h01", 6, "DR01", "DX"), ("h02", 7, "MR01", "MR")],
        "institution string, device_id int, station_name string, modality string",
    )
    patients = spark.createDataFrame(
        [("h01", 100, "M001"), ("h01", 101, "M002"), ("h02", 100, "M900"), ("h02", 102, "M901")],
        "institution string, patient_id long, mrn string",
    )
    return orders, records, reports, departments, devices, patients


@case("exams_build_full", "transforms.exams.build:build_exams", "transforms.exams.build:ris_orders")
def _exams_full(spark: SparkSession) -> DataFrame:
    from transforms.exams.build import build_exams

    studies = spark.createDataFrame(
        [("H01A1", "1.2.3", 4), ("H01A1", "1.2.3.9", 1), ("H02A2", "1.2.4", 20), (None, "9.9", 2)],
        "accession_number string, study_instance_uid string, instance_count long",
    )
    name_map = spark.createDataFrame(
        [
            ("h01", "CT头颅平扫", ["20010100010000"], "matched"),
            ("h02", "MR 腰椎", ["30040100010000", "30040200010000"], "review"),
        ],
        "institution string, raw_name string, codes array<string>, status string",
    )
    master = spark.createDataFrame(
        [("h01:M001", "E1"), ("h02:M900", "E1"), ("h02:M901", "E2")], "record_id string, empi_id string"
    )
    return build_exams(
        *_ris(spark), studies=studies, name_map=name_map, patient_master=master, timezone="Asia/Shanghai"
    )


@case("exams_build_bare", "transforms.exams.build:build_exams")
def _exams_bare(spark: SparkSession) -> DataFrame:
    from transforms.exams.build import build_exams

    # Before any DICOM, standardization or EMPI ran: the optional inputs are absent (typed null columns).
    return build_exams(*_ris(spark), timezone="America/New_York")


@case(
    "exams_build_hl7",
    "transforms.exams.build:build_exams",
    "transforms.exams.build:merge_hl7_orders",
    "transforms.exams.build:ris_orders",
)
def _exams_hl7(spark: SparkSession) -> DataFrame:
    from pyspark.sql.pandas.types import from_arrow_schema

    from radlake import catalog
    from transforms.exams.build import build_exams

    # HL7 brings one order the RIS also has (it fills only what the RIS lacks) and one the RIS has not.
    schema = from_arrow_schema(catalog.table("silver", "hl7_orders").schema, prefer_timestamp_ntz=False)
    base = dict.fromkeys(schema.fieldNames())
    rows = [
        {**base, "institution": "h01", "accession_number": "H01A1", "report_status": "draft", "device_station": "CT9"},
        {
            **base, "institution": "h03", "accession_number": "H03A1", "order_id": "O7", "mrn": "M001",
            "raw_exam_name": "CT头颅平扫", "modality": "CT", "status": "completed", "ordered_at": _t(3, 1),
            "report_status": "signed", "study_instance_uid": "1.2.3.7",
        },
    ]  # fmt: skip
    return build_exams(*_ris(spark), timezone="Asia/Shanghai", hl7_orders=spark.createDataFrame(rows, schema))


# --- ingestion.cdc ------------------------------------------------------------------------------------------


@case("cdc_latest_per_key", "ingestion.cdc.apply:latest_per_key")
def _cdc_latest(spark: SparkSession) -> DataFrame:
    from ingestion.cdc.apply import latest_per_key

    changes = spark.createDataFrame(
        [
            # key 1: insert then two updates across batches -> the last update wins
            (1, "a", None, "insert", 1, 1),
            (1, "b", None, "update", 1, 2),
            (1, "c", None, "update", 2, 1),
            # key 2: inserted then deleted -> a delete
            (2, "x", None, "insert", 1, 3),
            (2, None, None, "delete", 2, 2),
            # key 3 renamed to 4 -> delete 3, upsert 4
            (3, "k", None, "insert", 1, 4),
            (4, "k2", 3, "update", 2, 3),
            # a truncate row is not this function's business
            (None, None, None, "truncate", 3, 1),
            # a snapshot row
            (5, "s", None, "snapshot", 0, 1),
        ],
        "id long, v string, _old_id long, _op string, _batch_id long, _seq long",
    )
    return latest_per_key(changes, ["id"], ["id", "v"])


@case("cdc_classify_changes", "ingestion.cdc.query_mode:classify_changes")
def _cdc_classify(spark: SparkSession) -> DataFrame:
    from ingestion.cdc.query_mode import classify_changes

    schema = "id long, v string, n double, updated_at timestamp"
    candidates = spark.createDataFrame(
        [
            (1, "a", 1.0, _t(1, 1)),  # unchanged: dropped
            (2, "b2", 2.0, _t(1, 2)),  # changed value: update
            (3, None, 3.0, _t(1, 3)),  # changed to null: update
            (4, "d", None, _t(1, 4)),  # unchanged with a null: dropped (null-safe)
            (5, "e", 5.0, _t(1, 5)),  # not in silver: insert
        ],
        schema,
    )
    state = spark.createDataFrame(
        [(1, "a", 1.0, _t(1, 1)), (2, "b", 2.0, _t(1, 2)), (3, "c", 3.0, _t(1, 3)), (4, "d", None, _t(1, 4))],
        schema,
    )
    return classify_changes(candidates, state, ["id"], ["id", "v", "n", "updated_at"])


# --- transforms.dicom ---------------------------------------------------------------------------------------

_INSTANCE_COLUMNS = (
    "sop_instance_uid string, study_instance_uid string, series_instance_uid string, patient_id string, "
    "patient_name string, patient_sex string, patient_birth_date date, accession_number string, modality string, "
    "study_date date, study_date_raw string, study_time string, study_description string, series_number int, "
    "series_description string, body_part_examined string, institution_name string, station_name string, "
    "manufacturer string, manufacturer_model_name string, slice_thickness double, "
    "acquisition_datetime timestamp_ntz, ingested_at timestamp, number_of_frames int"
)


def _instances(spark: SparkSession) -> DataFrame:
    def row(sop, study, series, modality, thickness, minute, station="CT01", number=1, frames=1):
        return (
            sop, study, series, "P1", "王^芳", "F", dt.date(1980, 5, 2), "H01A1", modality, dt.date(2026, 11, 1),
            "20261101", "083000", "胸部CT平扫", number, "AX 5mm", "CHEST", "第一人民医院", station, "ACME", "X9",
            thickness, dt.datetime(2026, 11, 1, 8, minute), dt.datetime(2026, 11, 2, 1, minute, tzinfo=UTC), frames,
        )  # fmt: skip

    return spark.createDataFrame(
        [
            row("1.1", "S1", "S1.1", "CT", 1.25, 30),
            row("1.2", "S1", "S1.1", "CT", 5.0, 31),
            row("1.2", "S1", "S1.1", "CT", 5.0, 31),  # the same instance twice: counted once
            row("1.3", "S1", "S1.1", "CT", 2.5, 35, station="CT02"),  # a station renamed mid-series
            row("1.4", "S1", "S1.2", "PR", None, 40, number=2, frames=None),  # no pixel data: no frames
            row("2.1", "S2", "S2.1", "MR", 3.0, 10, frames=2000),  # an enhanced MR
            row("3.1", "S3", None, "DX", None, 12),  # no series UID: only in the study roll-up
            row("9.9", None, None, "MR", 3.0, 10),  # no UIDs at all: in neither
        ],
        _INSTANCE_COLUMNS,
    )


_FRAME = (
    "struct<frame_number:int, image_position_patient:array<double>, image_orientation_patient:array<double>, "
    "slice_location:double, slice_thickness:double, pixel_spacing:array<double>, "
    "frame_acquisition_datetime:timestamp_ntz, dimension_index_values:array<bigint>, stack_id:string, "
    "in_stack_position_number:int, temporal_position_index:int, window_center:double, window_width:double>"
)


@case("dicom_frames", "transforms.dicom.frames:frame_rows")
def _dicom_frames(spark: SparkSession) -> DataFrame:
    from transforms.dicom.frames import frame_rows

    def frame(n, z, phase=None):
        at = dt.datetime(2026, 11, 1, 8, 30, n)
        return (n, [-2.0, -2.0, z], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], z, 0.625, [0.5, 0.5], at, [1, n], "1", n, phase,
                40.0, 400.0)  # fmt: skip

    two = [frame(1, 0.0), frame(2, 0.625, phase=1)]
    landed = dt.datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    rows = [
        ("1.1", "S1.1", "S1", two, landed),
        ("1.1", "S1.1", "S1", two[:1], landed - dt.timedelta(days=1)),  # an older landing: its frames are not kept
        ("1.2", "S1.1", "S1", None, landed),  # a single-frame instance: no frame rows
        ("2.1", "S2.1", "S2", [frame(1, -3.5)], landed),
        ("9.9", None, None, [frame(1, 0.0)], landed),  # no study UID: left out
    ]
    schema = (
        f"sop_instance_uid string, series_instance_uid string, study_instance_uid string, frames array<{_FRAME}>, "
        "ingested_at timestamp"
    )
    return frame_rows(spark.createDataFrame(rows, schema))


@case("dicom_series_rollup", "transforms.dicom.rollups:series_rollup", "transforms.dicom.frames:frame_counts")
def _dicom_series(spark: SparkSession) -> DataFrame:
    from transforms.dicom.rollups import series_rollup

    return series_rollup(_instances(spark))


@case("dicom_study_rollup", "transforms.dicom.rollups:study_rollup")
def _dicom_study(spark: SparkSession) -> DataFrame:
    from transforms.dicom.rollups import study_rollup

    return study_rollup(_instances(spark))


_HEADER = (
    '{"00080018":{"vr":"UI","Value":["%s"]},"00080020":{"vr":"DA","Value":["20261101"]},'
    '"00080090":{"vr":"PN","Value":[{"Alphabetic":"LI^MING"}]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"WANG^FANG",'
    '"Ideographic":"王^芳"}]},"00100030":{"vr":"DA","Value":["19800502"]},"00200010":{"vr":"SH","Value":["77"]},'
    '"0008103E":{"vr":"LO","Value":["AX 5mm"]},"00200011":{"vr":"IS","Value":[1]},"00280010":{"vr":"US","Value":[512]},'
    '"00280011":{"vr":"US","Value":[512]},"00280100":{"vr":"US","Value":[16]}}'
)


def _dicomweb_instances(spark: SparkSession) -> DataFrame:
    """The roll-up instances with what the DICOMweb index reads besides: SOP class, file, landed header."""
    from pyspark.sql import functions as F

    return (
        _instances(spark)
        .withColumn("sop_class_uid", F.lit("1.2.840.10008.5.1.4.1.1.2"))
        .withColumn("instance_number", F.lit(1))
        .withColumn("transfer_syntax_uid", F.lit("1.2.840.10008.1.2.1"))
        .withColumn("file_path", F.concat(F.lit("/in/"), F.col("sop_instance_uid")))
        .withColumn("file_sha256", F.sha2(F.col("sop_instance_uid"), 256))
        .withColumn("header_json", F.format_string(_HEADER, F.col("sop_instance_uid")))
    )


@case("dicomweb_studies", "transforms.dicom.dicomweb:dicomweb_studies")
def _dicomweb_studies(spark: SparkSession) -> DataFrame:
    from transforms.dicom.dicomweb import dicomweb_studies

    return dicomweb_studies(_dicomweb_instances(spark))


@case("dicomweb_series", "transforms.dicom.dicomweb:dicomweb_series")
def _dicomweb_series(spark: SparkSession) -> DataFrame:
    from transforms.dicom.dicomweb import dicomweb_series

    return dicomweb_series(_dicomweb_instances(spark))


@case("dicomweb_instances", "transforms.dicom.dicomweb:dicomweb_instances")
def _dicomweb_instances_case(spark: SparkSession) -> DataFrame:
    from transforms.dicom.dicomweb import dicomweb_instances

    return dicomweb_instances(_dicomweb_instances(spark))


# --- transforms.cohorts -------------------------------------------------------------------------------------


@case("cohort_members", "transforms.cohorts.select:select_members")
def _cohort(spark: SparkSession) -> DataFrame:
    from transforms.cohorts.rule import CohortFilters
    from transforms.cohorts.select import select_members

    exams = spark.createDataFrame(
        [
            ("h01", "A1", "1", "P1", "E1", "CT", "completed", dt.date(2026, 11, 1), "S1", ["20030100010000"]),
            ("h01", "A2", "2", "P2", None, "CT", "completed", dt.date(2026, 11, 2), "S2", ["20030100020000"]),
            ("h01", "A3", "3", "P3", "E3", "CT", "cancelled", dt.date(2026, 11, 2), "S3", ["20030100010000"]),
            ("h02", "B1", "1", "P1", "E1", "MR", "completed", dt.date(2026, 11, 3), "S4", ["30010100010000"]),
            ("h02", "B2", "2", "P9", "E9", "CT", "completed", dt.date(2026, 11, 3), "S5", ["20010100010000"]),
            ("h02", "B3", "3", "P8", "E8", "CT", "completed", dt.date(2026, 11, 3), None, ["20030100010000"]),
        ],
        "institution string, accession_number string, order_id string, patient_id string, empi_id string, "
        "modality string, status string, exam_date date, study_instance_uid string, exam_codes array<string>",
    )
    studies = spark.createDataFrame(
        [("S1", "M", dt.date(1950, 1, 1)), ("S2", "F", dt.date(1990, 1, 1)), ("S5", "M", dt.date(1940, 6, 1))],
        "study_instance_uid string, patient_sex string, patient_birth_date date",
    )
    series = spark.createDataFrame(
        [("S1", "CHEST"), ("S2", "chest"), ("S5", "HEAD")], "study_instance_uid string, body_part_examined string"
    )
    reports = spark.createDataFrame(
        [("h01", "1", "右肺结节 4mm"), ("h01", "2", "未见异常"), ("h02", "2", "nodule")],
        "institution string, order_id string, text string",
    )
    rule = CohortFilters(
        modalities=["ct"], exam_code_prefixes=["2003"], body_parts=["CHEST"], age_min=30, report_keywords=["结节"]
    )
    return select_members(exams, studies, series, reports, rule)


# --- transforms.exam_names ----------------------------------------------------------------------------------


@case("exam_names_map", "transforms.exam_names.spark_job:map_exam_names")
def _exam_names_map(spark: SparkSession) -> DataFrame:
    from transforms.exam_names.decisions import Decision
    from transforms.exam_names.spark_job import EngineFactory, map_exam_names

    orders = spark.createDataFrame(
        [
            ("h01", "A1", "CT头颅平扫"),
            ("h01", "A2", "CT头颅平扫"),
            ("h01", "A3", "胶片费"),
            ("h01", "A4", "头颅平扫"),
            ("h02", "B1", "头颅平扫"),
            ("h02", "B2", "CT胸部+上腹部平扫"),
            ("h02", "B3", "MR 腰椎 平扫"),
            ("h02", "B4", None),
        ],
        "institution string, accession_number string, raw_exam_name string",
    )
    factory = EngineFactory(None, (Decision("h02", "头颅平扫", ("30010100010000",)),))
    # mapped_at is the wall clock of the run: the one column that may differ between engines.
    return map_exam_names(orders, factory, name_column="raw_exam_name").drop("mapped_at")


@case("exam_names_apply", "transforms.exam_names.spark_job:apply_exam_codes")
def _exam_names_apply(spark: SparkSession) -> DataFrame:
    from transforms.exam_names.spark_job import apply_exam_codes

    exams = spark.createDataFrame(
        [
            ("h01", "A1", "CT头颅平扫", ["old"]),
            ("h01", "A2", "胶片费", None),
            ("h02", "B1", "CT头颅平扫", None),
            ("h02", "B2", None, None),
        ],
        "institution string, accession_number string, raw_exam_name string, exam_codes array<string>",
    )
    name_map = spark.createDataFrame(
        [
            ("h01", "CT头颅平扫", ["20010100010000"], ["CT颅脑（平扫）"], "matched", 1.0, "v1", "engine", _t(1, 1)),
            ("h01", "胶片费", [], [], "not_exam", 0.9, "v1", "engine", _t(1, 1)),
            ("h03", "CT头颅平扫", ["x"], ["y"], "matched", 1.0, "v1", "engine", _t(1, 1)),
        ],
        "institution string, raw_name string, codes array<string>, standard_names array<string>, status string, "
        "confidence double, standard_version string, mapped_by string, mapped_at timestamp",
    )
    return apply_exam_codes(exams, name_map)
