"""build_exams on tiny in-memory frames: one row per order, the right record, report, day and links."""

from __future__ import annotations

import datetime as dt

from transforms.exams.build import EXAMS_COLUMNS, build_exams

UTC = dt.UTC


def _t(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def _frames(spark):
    orders = spark.createDataFrame(
        [
            ("h01", 1, "H01A1", 10, 100, 1, "routine", "CT头颅平扫", "CT", "completed", _t(2026, 11, 1, 1)),
            ("h01", 2, "H01A2", 10, 100, 1, "emergency", "胸片", None, "completed", _t(2026, 11, 1, 16)),
            ("h01", 3, "H01A3", 10, 100, 1, "routine", "胶片费", None, "completed", _t(2026, 11, 1, 2)),
            ("h02", 1, "H02A1", 11, 100, 2, "consult", "MR颅脑", "MR", "cancelled", _t(2026, 11, 2, 2)),
        ],
        "institution string, order_id long, accession_number string, visit_id long, patient_id long, "
        "ordering_department_id int, priority string, raw_exam_name string, modality string, status string, "
        "ordered_at timestamp",
    )
    records = spark.createDataFrame(
        [
            ("h01", 1, 1, 5, _t(2026, 11, 1, 2), _t(2026, 11, 1, 2, 10)),
            # Order 2 was re-done: the later record counts. 17:30 UTC is the next day in Shanghai.
            ("h01", 2, 2, 6, _t(2026, 11, 1, 16, 5), _t(2026, 11, 1, 16, 8)),
            ("h01", 3, 2, 6, _t(2026, 11, 1, 17, 30), _t(2026, 11, 1, 17, 33)),
        ],
        "institution string, record_id long, order_id long, device_id int, started_at timestamp, ended_at timestamp",
    )
    reports = spark.createDataFrame(
        [
            ("h01", 1, 1, "written", _t(2026, 11, 1, 3), None, _t(2026, 11, 1, 3)),
            ("h01", 2, 1, "signed", _t(2026, 11, 1, 3), _t(2026, 11, 1, 4), _t(2026, 11, 1, 4)),
        ],
        "institution string, report_id long, order_id long, status string, written_at timestamp, "
        "signed_at timestamp, updated_at timestamp",
    )
    departments = spark.createDataFrame(
        [("h01", 1, "放射科"), ("h02", 2, "急诊科")], "institution string, department_id int, name string"
    )
    devices = spark.createDataFrame(
        [("h01", 5, "CT01", "CT"), ("h01", 6, "DR01", "DX")],
        "institution string, device_id int, station_name string, modality string",
    )
    patients = spark.createDataFrame(
        [("h01", 100, "M001"), ("h02", 100, "M900")], "institution string, patient_id long, mrn string"
    )
    return orders, records, reports, departments, devices, patients


def test_one_row_per_order_with_latest_record_report_and_local_day(spark):
    orders, records, reports, departments, devices, patients = _frames(spark)
    studies = spark.createDataFrame(
        [("H01A1", "1.2.3", 4), ("H01A1", "1.2.3.9", 1), ("ZZ", "9.9", 2)],
        "accession_number string, study_instance_uid string, instance_count long",
    )
    name_map = spark.createDataFrame(
        [("h01", "CT头颅平扫", ["20010100010000"], "matched")],
        "institution string, raw_name string, codes array<string>, status string",
    )
    master = spark.createDataFrame([("h01:M001", "E1")], "record_id string, empi_id string")
    out = build_exams(
        orders,
        records,
        reports,
        departments,
        devices,
        patients,
        studies=studies,
        name_map=name_map,
        patient_master=master,
        timezone="Asia/Shanghai",
    )
    assert tuple(out.columns) == EXAMS_COLUMNS
    rows = {(r.institution, r.accession_number): r for r in out.collect()}
    assert len(rows) == 4

    a1 = rows[("h01", "H01A1")]
    assert a1.report_status == "signed"  # the latest report wins
    assert a1.study_instance_uid == "1.2.3" and a1.has_images  # the fuller study of two
    assert a1.exam_codes == ["20010100010000"] and a1.exam_name_status == "matched"
    assert a1.empi_id == "E1" and a1.ordering_department == "放射科"
    assert a1.exam_date == dt.date(2026, 11, 1)

    a2 = rows[("h01", "H01A2")]
    assert a2.modality == "DX"  # from the device, the order had none
    assert a2.exam_date == dt.date(2026, 11, 2)  # 17:30 UTC = 01:30 next day in Shanghai
    assert not a2.has_images and a2.exam_codes is None

    a3 = rows[("h01", "H01A3")]
    assert a3.exam_started_at is None and a3.exam_date == dt.date(2026, 11, 1)

    cancelled = rows[("h02", "H02A1")]
    assert cancelled.status == "cancelled" and cancelled.modality == "MR" and cancelled.empi_id is None


def test_without_optional_inputs_columns_are_typed_nulls(spark):
    out = build_exams(*_frames(spark), timezone="Asia/Shanghai")
    schema = {f.name: f.dataType.simpleString() for f in out.schema.fields}
    assert schema["exam_codes"] == "array<string>"
    assert schema["empi_id"] == "string" and schema["study_instance_uid"] == "string"
    assert out.filter("has_images").count() == 0


def _hl7_orders(spark):
    from pyspark.sql.pandas.types import from_arrow_schema

    from radlake import catalog

    schema = from_arrow_schema(catalog.table("silver", "hl7_orders").schema, prefer_timestamp_ntz=False)
    base = dict.fromkeys(schema.fieldNames())
    rows = [
        # The order the RIS also captured: its values win, HL7 only fills what the RIS lacks.
        {**base, "institution": "h01", "accession_number": "H01A1", "report_status": "draft", "device_station": "CT09"},
        # An order that came only by HL7.
        {
            **base,
            "institution": "h03",
            "accession_number": "H03A1",
            "order_id": "O7",
            "mrn": "M001",
            "raw_exam_name": "CT头颅平扫",
            "modality": "CT",
            "status": "completed",
            "ordered_at": _t(2026, 11, 3, 1),
            "report_status": "signed",
            "study_instance_uid": "1.2.3.7",
        },
    ]
    return spark.createDataFrame(rows, schema)


def test_hl7_orders_merge_one_exam_per_order_whichever_way_it_came(spark):
    out = build_exams(*_frames(spark), timezone="Asia/Shanghai", hl7_orders=_hl7_orders(spark))
    rows = {(r.institution, r.accession_number): r for r in out.collect()}
    assert len(rows) == 5 and out.count() == 5
    both = rows[("h01", "H01A1")]
    assert both.report_status == "signed" and both.device_station == "CT01"  # the RIS's values
    only = rows[("h03", "H03A1")]
    assert only.raw_exam_name == "CT头颅平扫" and only.exam_date == dt.date(2026, 11, 3) and only.has_images


def test_hl7_only_lake_builds_exams(spark):
    out = build_exams(None, None, None, None, None, None, timezone="Asia/Shanghai", hl7_orders=_hl7_orders(spark))
    assert sorted((r.institution, r.accession_number) for r in out.collect()) == [("h01", "H01A1"), ("h03", "H03A1")]
    assert tuple(out.columns) == EXAMS_COLUMNS


def test_an_hl7_order_takes_its_device_from_the_images(spark):
    studies = spark.createDataFrame(
        [("H03A1", "1.2.3.7", 3, "CT_3F_2"), ("H01A1", "1.2.3", 4, "OTHER")],
        "accession_number string, study_instance_uid string, instance_count long, station_name string",
    )
    out = build_exams(*_frames(spark), studies=studies, timezone="Asia/Shanghai", hl7_orders=_hl7_orders(spark))
    rows = {r.accession_number: r.device_station for r in out.collect()}
    assert rows["H03A1"] == "CT_3F_2"  # HL7 names no device: the station that made the images
    assert rows["H01A1"] == "CT01"  # the RIS's device wins over the header
