"""HL7 orders, reports and patient events → silver/hl7_orders, silver/hl7_patient_links, silver/hl7_patients.

What each message type says about an exam (:func:`message_facts`) is checked by the listener before it stores
a message (a message it cannot read is answered AE), and folded here per accession number in message order
(MSH-7, then arrival). ADT^A01/A04/A08 registrations and updates are folded the same way per patient record
(``<institution>:<mrn>``, the EMPI's record id), ADT^A40 merges become links. The silver tables are rebuilt from
bronze, one row per control id, so a resent message changes nothing and a re-run gives the same tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pyarrow as pa

from ingestion.hl7.message import Hl7Reject, Message, parse_text
from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake

ORDERS = catalog.table("silver", "hl7_orders")
LINKS = catalog.table("silver", "hl7_patient_links")
PATIENTS = catalog.table("silver", "hl7_patients")

ORDER_TYPES = frozenset({"ORM^O01", "OMI^O23", "ORU^R01"})
REGISTRATION_TYPES = frozenset({"ADT^A01", "ADT^A04", "ADT^A08"})
PATIENT_TYPES = REGISTRATION_TYPES | {"ADT^A40"}
SUPPORTED = ORDER_TYPES | PATIENT_TYPES

# ORC-5 order status (HL7 table 0038) → silver/exams.status.
_ORDER_STATUS = {"SC": "scheduled", "IP": "in_progress", "CM": "completed", "CA": "cancelled", "DC": "cancelled"}
# OBR-25 result status (table 0123) → the RIS report statuses.
_REPORT_STATUS = {"P": "written", "F": "signed", "C": "amended", "R": "draft", "I": "draft", "S": "draft"}
_PRIORITY = {"S": "emergency", "A": "emergency", "C": "consult", "R": "routine", "T": "routine"}
# PID-3 identifier type codes (HL7 table 0203) of a national ID number: China's resident ID, any national one.
_NATIONAL_ID_TYPES = frozenset({"NNCHN", "NI"})
_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?")


@dataclass
class OrderFact:
    """What one order or report segment group says about an exam (None: the message does not say)."""

    accession_number: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass
class MergeFact:
    """An ADT^A40: the record ``prior_mrn`` was merged into ``mrn``."""

    mrn: str
    prior_mrn: str


@dataclass
class PatientFact:
    """An ADT^A01/A04/A08: a patient record's demographics as the RIS registered or updated them."""

    mrn: str
    values: dict[str, object] = field(default_factory=dict)


def parse_time(value: str | None, zone: ZoneInfo, where: str) -> datetime | None:
    """An HL7 date-time (``YYYYMMDDHHMMSS[.S][+ZZZZ]``) as UTC; without an offset it is local time.

    Raises
    ------
    Hl7Reject
        ``AE`` naming the field when the value is not a date-time.
    """
    if not value:
        return None
    m = _DTM.fullmatch(value.strip())
    if m is None:
        raise Hl7Reject("AE", f"{where} is not an HL7 date-time")
    y, mo, d, h, mi, s, off = m.groups()
    try:
        naive = datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        raise Hl7Reject("AE", f"{where} is not a valid date-time") from None
    if off:
        sign = 1 if off[0] == "+" else -1
        tz: timezone | ZoneInfo = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
    else:
        tz = zone
    return naive.replace(tzinfo=tz).astimezone(UTC)


def _national_id(msg: Message, pid: list[str] | None) -> str | None:
    """The PID-3 repetition whose identifier type (component 5) is a national ID, else PID-19."""
    for rep in range(msg.repetitions(pid, 3)):
        if (msg.value(pid, 3, 5, rep) or "").upper() in _NATIONAL_ID_TYPES:
            return msg.value(pid, 3, 1, rep)
    return msg.value(pid, 19)


def _patient_fact(msg: Message) -> PatientFact:
    """What a registration or update says about the patient (None where a field is empty: the record keeps it).

    Raises
    ------
    Hl7Reject
        ``AE`` when PID-7 is not a date.
    """
    pid = msg.segment("PID")
    birth = parse_time(msg.value(pid, 7), ZoneInfo("UTC"), "PID-7")
    family, given = msg.value(pid, 5, 1), msg.value(pid, 5, 2)
    # A Chinese name is written whole in the family name component; a Western one in two components.
    name = " ".join(p for p in (family, given) if p) or None
    return PatientFact(
        mrn=msg.value(pid, 3) or "",
        values={
            "name": name,
            "sex": (msg.value(pid, 8) or "").upper()[:1] or None,
            "birth_date": birth.date() if birth else None,
            "id_number": _national_id(msg, pid),
            "phone": msg.value(pid, 13),
            "address": msg.value(pid, 11),
        },
    )


def _accession(msg: Message, obr: list[str], ipc: list[str] | None, n: int) -> str:
    acc = msg.value(ipc, 1) or msg.value(obr, 18) or msg.value(obr, 3)
    if not acc:
        raise Hl7Reject("AE", f"OBR {n} has no accession number (IPC-1, OBR-18 or OBR-3)")
    return acc


def _groups(msg: Message) -> list[tuple[list[str] | None, list[str], list[str] | None]]:
    """(ORC, OBR, IPC) of each order group: an ORC applies to the OBR after it, an IPC to the OBR before it."""
    out: list[tuple[list[str] | None, list[str], list[str] | None]] = []
    orc = None
    for seg in msg.segments:
        if seg[0] == "ORC":
            orc = seg
        elif seg[0] == "OBR":
            out.append((orc, seg, None))
        elif seg[0] == "IPC" and out and out[-1][2] is None:
            out[-1] = (out[-1][0], out[-1][1], seg)
    return out


def _order_values(
    msg: Message, orc: list[str] | None, obr: list[str], ipc: list[str] | None, zone: ZoneInfo
) -> dict[str, object]:
    kind = msg.message_type
    status_code = (msg.value(orc, 5) or "").upper()
    control = (msg.value(orc, 1) or "").upper()
    status = "cancelled" if control in ("CA", "OC", "DC") else _ORDER_STATUS.get(status_code)
    if status is None:
        status = "completed" if kind == "ORU^R01" else ("ordered" if control in ("NW", "") else None)
    prio = msg.get("TQ1", 9) or msg.value(obr, 27, 6) or msg.value(obr, 5)
    values: dict[str, object] = {
        "order_id": msg.value(orc, 2) or msg.value(obr, 2),
        "mrn": msg.get("PID", 3),
        "patient_id": msg.get("PID", 3),
        "priority": _PRIORITY.get((prio or "")[:1].upper()) if prio else None,
        "ordering_department": msg.value(orc, 17, 2) or msg.value(orc, 17, 1),
        "raw_exam_name": msg.value(obr, 4, 2) or msg.value(obr, 4, 1),
        "modality": msg.value(ipc, 5) or msg.value(obr, 24),
        "status": status,
        "ordered_at": parse_time(msg.value(orc, 9), zone, "ORC-9") if kind != "ORU^R01" else None,
        "exam_started_at": parse_time(msg.value(obr, 7), zone, "OBR-7"),
        "exam_ended_at": parse_time(msg.value(obr, 8), zone, "OBR-8"),
        "study_instance_uid": msg.value(ipc, 3),
    }
    if kind == "ORU^R01":
        result = (msg.value(obr, 25) or "").upper()
        at = parse_time(msg.value(obr, 22), zone, "OBR-22") or parse_time(msg.get("MSH", 7), zone, "MSH-7")
        values["report_status"] = _REPORT_STATUS.get(result[:1])
        values["report_written_at"] = at if result[:1] in ("P", "F", "C") else None
        values["report_signed_at"] = at if result[:1] in ("F", "C") else None
        values["report_radiologist"] = msg.value(obr, 32, 2) or msg.value(obr, 32, 1)
        text = [msg.value(obx, 5) for obx in msg.all("OBX")]
        values["report_impression"] = "\n".join(t for t in text if t) or None
    return values


def message_facts(msg: Message, timezone_name: str) -> list[OrderFact] | MergeFact | PatientFact:
    """What a message says: order facts per accession, an ADT^A40 merge, or a registration's demographics.

    Raises
    ------
    Hl7Reject
        ``AR`` for a message type radlake does not take; ``AE`` when a required field is missing or a
        date-time is not one (the reason names the field).
    """
    kind = msg.message_type
    if kind not in SUPPORTED:
        raise Hl7Reject(
            "AR", f"message type {kind[:20]!r} is not taken (ORM^O01, OMI^O23, ORU^R01, ADT^A01/A04/A08/A40)"
        )
    if not msg.get("PID", 3):
        raise Hl7Reject("AE", "PID-3 (patient identifier) is empty")
    zone = ZoneInfo(timezone_name)
    parse_time(msg.get("MSH", 7), zone, "MSH-7")
    if kind == "ADT^A40":
        prior = msg.get("MRG", 1)
        if not prior:
            raise Hl7Reject("AE", "ADT^A40 without MRG-1 (prior patient identifier)")
        return MergeFact(mrn=msg.get("PID", 3) or "", prior_mrn=prior)
    if kind in REGISTRATION_TYPES:
        return _patient_fact(msg)
    groups = _groups(msg)
    if not groups:
        raise Hl7Reject("AE", f"{kind} without an OBR segment")
    return [
        OrderFact(_accession(msg, obr, ipc, n), _order_values(msg, orc, obr, ipc, zone))
        for n, (orc, obr, ipc) in enumerate(groups, 1)
    ]


def _sort_key(row: dict[str, object], zone: ZoneInfo) -> tuple[datetime, datetime, str]:
    try:
        sent = parse_time(str(row["message_datetime"] or ""), zone, "MSH-7")
    except Hl7Reject:
        sent = None
    received = row["received_at"]
    assert isinstance(received, datetime)
    return (sent or received, received, str(row["control_id"]))


def fold_messages(
    rows: list[dict[str, object]], institutions: dict[str, str], timezone_name: str
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """silver/hl7_orders, silver/hl7_patient_links and silver/hl7_patients from bronze rows (pure; any row order
    gives the same).

    Parameters
    ----------
    rows
        bronze/hl7_messages rows (``sending_facility``, ``control_id``, ``message_text``, ``encoding``,
        ``message_datetime``, ``received_at``).
    institutions
        Sending facility → institution (``hl7.allowed_facilities``); a facility not named is its own.
    """
    zone = ZoneInfo(timezone_name)
    state: dict[tuple[str, str], dict[str, object]] = {}
    links: dict[tuple[str, str], dict[str, object]] = {}
    patients: dict[str, dict[str, object]] = {}
    for row in sorted(rows, key=lambda r: _sort_key(r, zone)):
        facility = str(row["sending_facility"])
        institution = institutions.get(facility, facility)
        msg = parse_text(str(row["message_text"]))
        try:
            facts = message_facts(msg, timezone_name)
        except Hl7Reject:
            continue  # stored by an older listener that took it; never applied
        if isinstance(facts, MergeFact):
            a, b = sorted((f"{institution}:{facts.mrn}", f"{institution}:{facts.prior_mrn}"))
            if a != b:
                links[(a, b)] = {
                    "record_id_a": a,
                    "record_id_b": b,
                    "institution": institution,
                    "surviving_record_id": f"{institution}:{facts.mrn}",
                    "sending_facility": facility,
                    "control_id": row["control_id"],
                    "linked_at": row["received_at"],
                }
            continue
        if isinstance(facts, PatientFact):
            record_id = f"{institution}:{facts.mrn}"
            record = patients.setdefault(
                record_id, {"record_id": record_id, "institution": institution, "mrn": facts.mrn}
            )
            # An update that leaves a field empty does not erase what an earlier message said.
            record.update({k: v for k, v in facts.values.items() if v is not None})
            record["last_event"] = msg.message_type
            record["last_control_id"] = row["control_id"]
            record["updated_at"] = row["received_at"]
            continue
        for fact in facts:
            key = (institution, fact.accession_number)
            current = state.setdefault(
                key, {"institution": institution, "accession_number": fact.accession_number, "messages": 0}
            )
            for name, value in fact.values.items():
                if value is None:
                    continue
                if name in ("report_written_at", "report_signed_at") and current.get(name) is not None:
                    continue  # the first report that says so: a later amendment keeps the original times
                current[name] = value
            current["messages"] = int(current["messages"]) + 1  # type: ignore[call-overload]
            current["last_control_id"] = row["control_id"]
            current["updated_at"] = row["received_at"]
    orders_schema, links_schema, patients_schema = ORDERS.schema, LINKS.schema, PATIENTS.schema
    assert orders_schema is not None and links_schema is not None and patients_schema is not None
    orders = pa.Table.from_pylist([state[k] for k in sorted(state)], schema=orders_schema)
    merges = pa.Table.from_pylist([links[k] for k in sorted(links)], schema=links_schema)
    records = pa.Table.from_pylist([patients[k] for k in sorted(patients)], schema=patients_schema)
    return orders, merges, records


def apply_messages(settings: Settings) -> tuple[int, int, int]:
    """Rebuild silver/hl7_orders, silver/hl7_patient_links and silver/hl7_patients from bronze/hl7_messages.

    Returns
    -------
    tuple of int
        Orders, patient links and patient records written.
    """
    lake = Lake(settings)
    bronze = lake.table("bronze", "hl7_messages").read_arrow(
        ["sending_facility", "control_id", "message_text", "message_datetime", "received_at"]
    )
    rows = bronze.to_pylist() if bronze is not None else []
    folded = fold_messages(rows, settings.hl7.allowed_facilities, settings.timezone)
    for spec, table in zip((ORDERS, LINKS, PATIENTS), folded, strict=True):
        lake.table(spec).replace(table)
    return folded[0].num_rows, folded[1].num_rows, folded[2].num_rows
