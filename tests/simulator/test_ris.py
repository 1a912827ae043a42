"""The RIS/HIS databases: schema and keys as contracted, consistent rows, realistic mix and timing."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import psycopg
import pytest

from simulator.exam_names import billing_lines, exam_items, spell
from simulator.people import generate_registry
from simulator.ris import build_ris, institutions

pytestmark = pytest.mark.integration

# The contract (../briefs/sim_contract.md): every table, its columns and their types.
CONTRACT = {
    "departments": {"department_id": "integer", "code": "text", "name": "text", "updated_at": "timestamptz"},
    "devices": {
        "device_id": "integer", "station_name": "text", "ae_title": "text", "modality": "text",
        "manufacturer": "text", "model": "text", "department_id": "integer", "updated_at": "timestamptz",
    },
    "patients": {
        "patient_id": "bigint", "mrn": "text", "name": "text", "sex": "text", "birth_date": "date",
        "id_number": "text", "phone": "text", "address": "text", "vip": "boolean", "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "visits": {
        "visit_id": "bigint", "patient_id": "bigint", "visit_type": "text", "department_id": "integer",
        "visited_at": "timestamptz", "updated_at": "timestamptz",
    },
    "exam_orders": {
        "order_id": "bigint", "accession_number": "text", "visit_id": "bigint", "patient_id": "bigint",
        "ordering_department_id": "integer", "priority": "text", "raw_exam_name": "text", "modality": "text",
        "status": "text", "fee": "numeric", "contrast": "boolean", "clinical_info": "jsonb",
        "ordered_at": "timestamptz", "updated_at": "timestamptz",
    },
    "exam_records": {
        "record_id": "bigint", "order_id": "bigint", "device_id": "integer", "started_at": "timestamptz",
        "ended_at": "timestamptz", "technologist": "text", "updated_at": "timestamptz",
    },
    "reports": {
        "report_id": "bigint", "order_id": "bigint", "radiologist": "text", "findings": "text", "impression": "text",
        "status": "text", "written_at": "timestamptz", "signed_at": "timestamptz", "updated_at": "timestamptz",
    },
}  # fmt: skip
PKS = {
    "departments": "department_id", "devices": "device_id", "patients": "patient_id", "visits": "visit_id",
    "exam_orders": "order_id", "exam_records": "record_id", "reports": "report_id",
}  # fmt: skip
_UDT = {"int4": "integer", "int8": "bigint", "timestamptz": "timestamptz"}


def test_every_institution_has_its_database_with_the_contracted_tables(small):
    for inst in small.summary.institutions:
        with psycopg.connect(small.uri(inst)) as conn:
            cols = conn.execute(
                "SELECT table_name, column_name, udt_name FROM information_schema.columns WHERE table_schema = 'ris'"
            ).fetchall()
            found: dict[str, dict[str, str]] = {}
            for table, column, udt in cols:
                found.setdefault(table, {})[column] = _UDT.get(udt, "boolean" if udt == "bool" else udt)
            assert found == CONTRACT
            pks = conn.execute(
                "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
                "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
                "WHERE tc.table_schema = 'ris' AND tc.constraint_type = 'PRIMARY KEY'"
            ).fetchall()
            assert dict(pks) == PKS
            uniques = {
                (t, c)
                for t, c in conn.execute(
                    "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
                    "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
                    "WHERE tc.table_schema = 'ris' AND tc.constraint_type = 'UNIQUE'"
                )
            }
            assert {("patients", "mrn"), ("exam_orders", "accession_number")} <= uniques
            assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"


def test_accessions_are_globally_unique_and_prefixed_with_the_institution(small):
    seen = []
    for inst in small.summary.institutions:
        orders = small.table(inst, "exam_orders")
        assert orders["accession_number"].str.startswith(inst).all()
        assert orders["accession_number"].str.len().max() <= 16  # DICOM SH
        seen += list(orders["accession_number"])
    assert len(seen) == len(set(seen))


def test_rows_hang_together(small):
    for inst in small.summary.institutions:
        orders = small.table(inst, "exam_orders").set_index("order_id")
        records = small.table(inst, "exam_records")
        reports = small.table(inst, "reports")
        patients = small.table(inst, "patients")
        assert set(patients["sex"]) <= {"M", "F", "U"}
        assert set(orders["priority"]) <= {"routine", "emergency", "consult"}
        # Records only for started exams, one each, never before the order and never ending before the start.
        assert records["order_id"].is_unique
        rec = records.join(orders[["status", "ordered_at"]], on="order_id")
        assert set(rec["status"]) <= {"in_progress", "completed"}
        assert (rec["started_at"] >= rec["ordered_at"]).all()
        done = rec[rec["ended_at"].notna()]
        assert (done["ended_at"] > done["started_at"]).all()
        completed = set(orders.index[(orders["status"] == "completed") & orders["modality"].notna()])
        assert completed == set(records.loc[records["ended_at"].notna(), "order_id"])
        # Billing lines: no modality, no exam record.
        billing = orders[orders["modality"].isna()]
        assert len(billing) > 0 or len(orders) < 60
        assert not set(billing.index) & set(records["order_id"])
        # Reports only for completed exams, written after the exam ended, signed after written.
        assert set(reports["order_id"]) <= completed
        ended = records.set_index("order_id")["ended_at"]
        assert (reports["written_at"] >= reports["order_id"].map(ended)).all()
        signed = reports[reports["signed_at"].notna()]
        assert (signed["signed_at"] >= signed["written_at"]).all()
        assert set(signed["status"]) <= {"signed", "amended"}
        assert reports.loc[reports["signed_at"].isna(), "status"].isin(["draft", "written"]).all()
        # updated_at is the latest event of a row.
        assert (orders["updated_at"] >= orders["ordered_at"]).all()
        assert (reports["updated_at"] >= reports["written_at"]).all()
        assert (patients["updated_at"] >= patients["created_at"]).all()


def test_clinical_info_is_json_and_fees_are_numeric(small):
    with psycopg.connect(small.uri("h01")) as conn:
        kinds = conn.execute("SELECT DISTINCT jsonb_typeof(clinical_info) FROM ris.exam_orders").fetchall()
        assert kinds == [("object",)]
        assert conn.execute("SELECT count(*) FROM ris.exam_orders WHERE clinical_info ? 'diagnosis'").fetchone()[0] > 0
        assert conn.execute("SELECT min(fee) > 0 FROM ris.exam_orders").fetchone()[0]
        vendors = {r[0] for r in conn.execute("SELECT DISTINCT manufacturer FROM ris.devices")}
        assert vendors <= {"GE", "Siemens", "Philips", "联影", "Neusoft"}
        modalities = {r[0] for r in conn.execute("SELECT DISTINCT modality FROM ris.devices")}
        assert modalities == {"CT", "MR", "DX", "MG", "US"}


@pytest.fixture(scope="module")
def week():
    """One institution, a week at 300 orders a day, built in memory (no database)."""
    inst = institutions(1)[0]
    registry = generate_registry(800, [inst.code], 5)
    return build_ris(
        inst, registry, exam_items(), billing_lines(), start_date=date(2026, 11, 2), days=7, exams_per_day=300,
        seed=5, spell=spell,
    )  # fmt: skip


def test_mix_of_priorities_statuses_and_billing_lines(week):
    n = len(week.exams)
    assert 0.9 * 2100 <= n <= 1.1 * 2100
    share = lambda pred: sum(1 for e in week.exams if pred(e)) / n  # noqa: E731
    assert 0.74 <= share(lambda e: e.priority == "routine") <= 0.86
    assert 0.11 <= share(lambda e: e.priority == "emergency") <= 0.19
    assert 0.02 <= share(lambda e: e.priority == "consult") <= 0.08
    assert 0.015 <= share(lambda e: e.kind == "not_exam") <= 0.05
    assert 0.01 <= share(lambda e: e.status == "cancelled") <= 0.035
    # Billing lines are named by the billing catalogue and are never imaged.
    billing = set(billing_lines())
    assert all(e.raw_exam_name in billing and not e.performed for e in week.exams if e.kind == "not_exam")


def test_exam_hours_and_durations_look_like_a_department(week):
    starts = [e.started_at for e in week.exams if e.performed and e.priority == "routine"]
    daytime = sum(1 for s in starts if 7 <= s.hour < 21) / len(starts)
    assert daytime > 0.95
    minutes = {m: [] for m in ("CT", "MR", "DX", "US")}
    for e in week.exams:
        if e.ended_at is not None and e.modality in minutes:
            minutes[e.modality].append((e.ended_at - e.started_at) / timedelta(minutes=1))
    assert statistics.median(minutes["DX"]) < statistics.median(minutes["CT"]) < statistics.median(minutes["MR"])
    # Every modality a device exists for is used on the device of that modality.
    assert all(e.device.modality == e.modality for e in week.exams if e.performed)


def test_report_turnaround_is_faster_for_emergencies_and_sometimes_late(week):
    ended = {e.order_id: (e.ended_at, e.priority) for e in week.exams if e.ended_at is not None}
    tat: dict[str, list[float]] = {"emergency": [], "routine": []}
    for row in week.rows["reports"]:
        _, order_id, *_, status, written_at, _signed, _upd = row
        end, priority = ended[order_id]
        if priority in tat and status != "draft":
            tat[priority].append((written_at - end) / timedelta(minutes=1))
    assert statistics.median(tat["emergency"]) < 30 < statistics.median(tat["routine"])
    late_emergency = sum(1 for m in tat["emergency"] if m > 30) / len(tat["emergency"])
    late_routine = sum(1 for m in tat["routine"] if m > 12 * 60) / len(tat["routine"])
    assert 0.03 < late_emergency < 0.4
    assert 0.01 < late_routine < 0.3
