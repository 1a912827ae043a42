"""An HL7-speaking RIS: ADT^A04/A08 registrations, ADT^A01 admissions, ORM^O01 orders, ORU^R01 reports and
ADT^A40 merges for one hospital's patients and exams.

The messages are what a Chinese RIS sends: GB18030 (labelled in MSH-18, or unlabelled for a RIS that never
fills it), escape sequences where a value holds a delimiter, several patient identifiers as repetitions.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FeedOrder:
    """One order as the RIS knows it (times in local wall-clock time)."""

    accession_number: str
    order_id: str
    mrn: str
    patient_name: str
    raw_exam_name: str
    modality: str
    priority: str  # S (stat), R (routine)
    department: str
    ordered_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


def _ts(t: datetime | None) -> str:
    # An aware time carries its offset (+0800); a naive one is the receiver's local time.
    return t.strftime("%Y%m%d%H%M%S%z") if t else ""


def _esc(text: str) -> str:
    out = text.replace("\\", "\\E\\")
    for ch, code in (("|", "F"), ("^", "S"), ("~", "R"), ("&", "T")):
        out = out.replace(ch, f"\\{code}\\")
    return out


def _msh(facility: str, kind: str, control_id: str, sent: datetime, charset: str | None) -> str:
    msh18 = "" if charset is None else charset
    return f"MSH|^~\\&|RIS|{facility}|RADLAKE|RADLAKE|{_ts(sent)}||{kind}|{control_id}|P|2.5|||||CHN|{msh18}"


def _pid(order: FeedOrder) -> str:
    # Two identifiers as repetitions: the MRN first, then the outpatient card number.
    return f"PID|1||{_esc(order.mrn)}^^^MRN~C{_esc(order.mrn)}^^^CARD||{_esc(order.patient_name)}||||"


def order_message(
    facility: str, order: FeedOrder, control_id: str, *, status: str = "SC", charset: str | None = "GB 18030-2000"
) -> str:
    """An ORM^O01 for ``order`` (``status`` is ORC-5: SC scheduled, IP in progress, CM completed, CA cancelled)."""
    control = "CA" if status == "CA" else ("NW" if status == "SC" else "SC")
    dept = f"D1^{_esc(order.department)}"
    segments = [
        _msh(facility, "ORM^O01", control_id, order.ordered_at, charset),
        _pid(order),
        f"ORC|{control}|{_esc(order.order_id)}|||{status}||||{_ts(order.ordered_at)}||||||||{dept}",
        f"OBR|1|{_esc(order.order_id)}||X^{_esc(order.raw_exam_name)}|{order.priority}||{_ts(order.started_at)}|"
        f"{_ts(order.ended_at)}||||||||||{_esc(order.accession_number)}||||||{order.modality}",
    ]
    return "\r".join(segments) + "\r"


def report_message(
    facility: str,
    order: FeedOrder,
    control_id: str,
    at: datetime,
    *,
    final: bool,
    charset: str | None = "GB 18030-2000",
    impression: str | None = None,
    radiologist: str | None = None,
) -> str:
    """An ORU^R01 for ``order``: a preliminary (``final=False``) or final report written at ``at`` by
    ``radiologist`` (OBR-32), its ``impression`` as OBX-5 (line breaks as ``\\.br\\``)."""
    text = (
        "\\.br\\".join(_esc(line) for line in impression.splitlines())
        if impression
        else "双肺纹理清晰\\.br\\未见明确异常"
    )
    reader = f"|||||||^{_esc(radiologist)}" if radiologist else ""
    segments = [
        _msh(facility, "ORU^R01", control_id, at, charset),
        _pid(order),
        f"OBR|1|{_esc(order.order_id)}||X^{_esc(order.raw_exam_name)}|||{_ts(order.started_at)}|{_ts(order.ended_at)}"
        f"||||||||||{_esc(order.accession_number)}||||{_ts(at)}||{order.modality}|{'F' if final else 'P'}{reader}",
        f"OBX|1|TX|IMP^Impression||{text}||||||{'F' if final else 'P'}",
    ]
    return "\r".join(segments) + "\r"


def merge_message(facility: str, mrn: str, prior_mrn: str, control_id: str, sent: datetime) -> str:
    """An ADT^A40: patient record ``prior_mrn`` merged into ``mrn``."""
    return (
        "\r".join(
            [
                _msh(facility, "ADT^A40", control_id, sent, "UNICODE UTF-8"),
                "EVN|A40|" + _ts(sent),
                f"PID|1||{_esc(mrn)}^^^MRN||",
                f"MRG|{_esc(prior_mrn)}^^^MRN",
            ]
        )
        + "\r"
    )


@dataclass(frozen=True)
class FeedPatient:
    """A patient record as the RIS registered it (a row of its ``patients`` table)."""

    mrn: str
    name: str | None
    sex: str | None
    birth_date: date | None
    id_number: str | None
    phone: str | None
    address: str | None


def patient_message(facility: str, kind: str, patient: FeedPatient, control_id: str, sent: datetime) -> str:
    """An ADT^A04 (registration), ADT^A08 (update) or ADT^A01 (admission) carrying the record's demographics.

    The MRN is PID-3's first repetition, the resident ID number a second one of identifier type NNCHN.
    """
    ids = f"{_esc(patient.mrn)}^^^MRN"
    if patient.id_number:
        ids += f"~{_esc(patient.id_number)}^^^CHN^NNCHN"
    birth = f"{patient.birth_date:%Y%m%d}" if patient.birth_date else ""
    pid = (
        f"PID|1||{ids}||{_esc(patient.name or '')}||{birth}|{patient.sex or ''}|||{_esc(patient.address or '')}"
        f"||{_esc(patient.phone or '')}"
    )
    event = kind.split("^")[1]
    visit = "I" if event == "A01" else "O"
    segments = [
        _msh(facility, kind, control_id, sent, "GB 18030-2000"),
        f"EVN|{event}|{_ts(sent)}",
        pid,
        f"PV1|1|{visit}",
    ]
    return "\r".join(segments) + "\r"


_ORC_STATUS = {"ordered": "", "scheduled": "SC", "in_progress": "IP", "completed": "CM", "cancelled": "CA"}
FEED_TRUTH_COLUMNS = ("control_id", "message_type", "accession_number")


def facility_of(institution: str) -> str:
    """The sending facility (MSH-4) of an institution's RIS (``h02`` → ``H02RIS``)."""
    return f"{institution.upper()}RIS"


def ris_feed(data: Any) -> list[tuple[str, str, str, bytes]]:
    """The HL7 messages one institution's RIS sends for its orders and reports (a simulator RisData).

    Returns (control id, message type, accession number, bytes): one ADT^A04 per registered patient (at its
    registration), an ADT^A08 when the record was edited later and an ADT^A01 per inpatient admission (each with
    the record as it stands; accession number empty), then one ORM^O01 per order with its final status, one
    ORU^R01 per written report and another when it is signed. One order in ten leaves MSH-18 empty (a RIS that
    never fills it): the bytes are GB18030 all the same.
    """
    facility = facility_of(data.institution.code)
    accession = {e.order_id: e for e in data.exams}
    out: list[tuple[str, str, str, bytes]] = []

    def add(kind: str, acc: str, text: str) -> None:
        control = f"{facility}-{len(out) + 1:07d}"
        out.append((control, kind, acc, text.replace("@CONTROL@", control).encode("gb18030")))

    patient_columns = ("patient_id", "mrn", "name", "sex", "birth_date", "id_number", "phone", "address")
    patients: dict[object, FeedPatient] = {}
    for row in data.rows.get("patients", []):
        p = dict(zip((*patient_columns, "vip", "created_at", "updated_at"), row, strict=False))
        patients[p["patient_id"]] = record = FeedPatient(*(p[c] for c in patient_columns[1:]))
        add("ADT^A04", "", patient_message(facility, "ADT^A04", record, "@CONTROL@", p["created_at"]))
        if p["updated_at"] != p["created_at"]:
            add("ADT^A08", "", patient_message(facility, "ADT^A08", record, "@CONTROL@", p["updated_at"]))
    for row in data.rows.get("visits", []):
        visit = dict(zip(("visit_id", "patient_id", "visit_type", "department_id", "visited_at"), row, strict=False))
        if visit["visit_type"] == "inpatient" and visit["patient_id"] in patients:
            record = patients[visit["patient_id"]]
            add("ADT^A01", "", patient_message(facility, "ADT^A01", record, "@CONTROL@", visit["visited_at"]))
    for e in data.exams:
        order = FeedOrder(
            accession_number=e.accession_number, order_id=str(e.order_id), mrn=e.mrn, patient_name=e.patient_name,
            raw_exam_name=e.raw_exam_name, modality=e.modality or "", priority={"emergency": "S"}.get(e.priority, "R"),
            department="", ordered_at=e.ordered_at, started_at=e.started_at, ended_at=e.ended_at,
        )  # fmt: skip
        charset = None if len(out) % 10 == 9 else "GB 18030-2000"
        add(
            "ORM^O01",
            e.accession_number,
            order_message(facility, order, "@CONTROL@", status=_ORC_STATUS[e.status], charset=charset),
        )
    columns = ("report_id", "order_id", "radiologist", "findings", "impression", "status", "written_at", "signed_at")
    for row in data.rows.get("reports", []):
        report = dict(zip(columns, row, strict=False))
        e = accession.get(report["order_id"])
        if e is None or report["written_at"] is None:
            continue
        order = FeedOrder(
            e.accession_number,
            str(e.order_id),
            e.mrn,
            e.patient_name,
            e.raw_exam_name,
            e.modality or "",
            "R",
            "",
            e.ordered_at,
            e.started_at,
            e.ended_at,
        )
        text = {"impression": report["impression"], "radiologist": report["radiologist"]}
        add(
            "ORU^R01",
            e.accession_number,
            report_message(facility, order, "@CONTROL@", report["written_at"], final=False, **text),
        )
        if report["signed_at"] is not None:
            add(
                "ORU^R01",
                e.accession_number,
                report_message(facility, order, "@CONTROL@", report["signed_at"], final=True, **text),
            )
    return out


def write_feed(out_dir: Path, data: Any) -> int:
    """Write an institution's feed as MLLP frames (``hl7/<institution>.mllp``) and its truth
    (``truth/hl7_<institution>.csv``: what must land); returns the messages written."""
    feed = ris_feed(data)
    (out_dir / "hl7").mkdir(parents=True, exist_ok=True)
    with (out_dir / "hl7" / f"{data.institution.code}.mllp").open("wb") as fh:
        for *_, raw in feed:
            fh.write(b"\x0b" + raw + b"\x1c\r")
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    with (out_dir / "truth" / f"hl7_{data.institution.code}.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FEED_TRUTH_COLUMNS)
        writer.writerows((c, k, a) for c, k, a, _ in feed)
    return len(feed)
