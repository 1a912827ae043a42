"""Rows of the lake index → FHIR R4 resources (Patient, ImagingStudy, DiagnosticReport) as plain JSON dicts.

Pure functions: a row in, a resource out. Absent values are left out (FHIR forbids empty strings, arrays
and objects), times carry their zone, and every id fits FHIR's ``[A-Za-z0-9\\-.]{1,64}``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.fhir.systems import (
    DICOM_MODALITY,
    DICOM_UID,
    ENDPOINT_CONNECTION,
    V2_DIAGNOSTIC_SECTION,
    V2_IDENTIFIER_TYPE,
    Systems,
)

Resource = dict[str, Any]
Row = dict[str, Any]

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_GENDER = {"M": "male", "F": "female", "O": "other"}
GENDER_CODES = {"male": "M", "female": "F", "other": "O"}
# The RIS's report states (silver/exams.report_status) → DiagnosticReport.status; a draft is not a report yet.
REPORT_STATUS = {"written": "preliminary", "signed": "final", "amended": "amended"}
REPORTED = tuple(REPORT_STATUS)


def fhir_id(value: str) -> str:
    """``value`` when it is a legal FHIR id, else a stable 40-character digest of it (never a collision by cut)."""
    if _FHIR_ID.fullmatch(value):
        return value
    return "h-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:38]


def _instant(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # DuckDB hands timestamps with time zone back as aware values; be safe anyway
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(tz).isoformat(timespec="seconds")


def _coding_type(code: str) -> Resource:
    return {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": code}]}


def _prune(resource: Resource) -> Resource:
    """Drop keys whose value is None or empty (FHIR JSON must not carry them)."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


def patient(person: Row, idents: list[Row], replaces: list[str], systems: Systems) -> Resource:
    """The golden record of one person, with every institution's MRN and the resident ID as identifiers.

    ``idents``: rows of the index's ``ident`` table for this person (kind, institution, value);
    ``replaces``: empi_ids merged into this person (each becomes a ``replaces`` link).
    """
    identifier: list[Resource] = [{"use": "official", "system": systems.empi, "value": person["empi_id"]}]
    for row in sorted(idents, key=lambda r: (r["kind"], r["institution"] or "", r["value"])):
        if row["kind"] == "mrn":
            identifier.append(
                {
                    "use": "usual",
                    "type": _coding_type("MR"),
                    "system": systems.mrn(row["institution"]),
                    "value": row["value"],
                    "assigner": {"display": row["institution"]},
                }
            )
        else:
            identifier.append({"type": _coding_type("NI"), "system": systems.resident_id, "value": row["value"]})
    birth = person.get("birth_date")
    return _prune(
        {
            "resourceType": "Patient",
            "id": person["empi_id"],
            "meta": _prune({"lastUpdated": _instant(person.get("updated_at"), ZoneInfo("UTC"))}),
            "identifier": identifier,
            "active": True,
            "name": [{"use": "official", "text": person["name"]}] if person.get("name") else None,
            "telecom": [{"system": "phone", "value": p} for p in person.get("phones") or [] if p],
            "gender": _GENDER.get(person.get("sex") or "", "unknown"),
            "birthDate": birth.isoformat() if isinstance(birth, date) else None,
            "link": [{"other": {"reference": f"Patient/{old}"}, "type": "replaces"} for old in sorted(replaces)],
        }
    )


def merged_patient(old_id: str, survivor: str) -> Resource:
    """What a merged-away empi_id answers: an inactive Patient pointing at the person it now is."""
    return {
        "resourceType": "Patient",
        "id": old_id,
        "active": False,
        "link": [{"other": {"reference": f"Patient/{survivor}"}, "type": "replaced-by"}],
    }


def _procedure(row: Row, systems: Systems) -> Resource | None:
    codes = row.get("exam_codes") or []
    names = row.get("standard_names") or []
    coding = [
        _prune({"system": systems.exam_standard, "code": code, "display": names[i] if i < len(names) else None})
        for i, code in enumerate(codes)
        if code
    ]
    concept = _prune({"coding": coding, "text": row.get("raw_exam_name")})
    return concept or None


def _subject(row: Row) -> Resource:
    if row.get("empi_id"):
        return {"reference": f"Patient/{row['empi_id']}"}
    return {"display": "no person linked in the master index"}


def imaging_study(row: Row, series: list[Row], dicomweb_root: str, systems: Systems, tz: ZoneInfo) -> Resource:
    """One DICOM study with its order's codes, its series, and a contained Endpoint at the space's DICOMweb root."""
    identifier: list[Resource] = [{"system": DICOM_UID, "value": f"urn:oid:{row['study_uid']}"}]
    if row.get("accession") and row.get("institution"):
        identifier.append(
            {
                "type": _coding_type("ACSN"),
                "system": systems.accession(row["institution"]),
                "value": row["accession"],
                "assigner": {"display": row["institution"]},
            }
        )
    procedure = _procedure(row, systems)
    return _prune(
        {
            "resourceType": "ImagingStudy",
            "id": fhir_id(row["study_uid"]),
            "contained": [
                {
                    "resourceType": "Endpoint",
                    "id": "dicomweb",
                    "status": "active",
                    "connectionType": {"system": ENDPOINT_CONNECTION, "code": "dicom-wado-rs"},
                    "payloadType": [{"text": "DICOM"}],
                    "address": dicomweb_root,
                }
            ],
            "identifier": identifier,
            "status": "available",
            "modality": [{"system": DICOM_MODALITY, "code": m} for m in row.get("modalities") or [] if m],
            "subject": _subject(row),
            "started": _instant(row.get("started"), tz),
            "endpoint": [{"reference": "#dicomweb"}],
            "numberOfSeries": row.get("series_count"),
            "numberOfInstances": row.get("instance_count"),
            "procedureCode": [procedure] if procedure else None,
            "description": row.get("study_description"),
            "series": [_series(s) for s in series],
        }
    )


def _series(row: Row) -> Resource:
    number = row.get("series_number")
    return _prune(
        {
            "uid": row["series_instance_uid"],
            "number": number if number is not None and number >= 0 else None,
            "modality": {"system": DICOM_MODALITY, "code": row.get("modality") or "OT"},
            "description": row.get("series_description"),
            "numberOfInstances": row.get("instance_count"),
            "bodySite": {"display": row["body_part_examined"]} if row.get("body_part_examined") else None,
        }
    )


def diagnostic_report(row: Row, systems: Systems, tz: ZoneInfo) -> Resource:
    """The report of one reported exam, linked to its ImagingStudy when the exam has images."""
    identifier = [
        {
            "type": _coding_type("ACSN"),
            "system": systems.accession(row["institution"]),
            "value": row["accession"],
        }
    ]
    code = _procedure(row, systems) or {"text": "imaging examination"}
    performer = [{"display": row["radiologist"]}] if row.get("radiologist") else []
    performer.append({"display": row["institution"]})
    return _prune(
        {
            "resourceType": "DiagnosticReport",
            "id": fhir_id(row["report_id"]),
            "identifier": identifier,
            "status": REPORT_STATUS[row["report_status"]],
            "category": [{"coding": [{"system": V2_DIAGNOSTIC_SECTION, "code": "RAD", "display": "Radiology"}]}],
            "code": code,
            "subject": _subject(row),
            "effectiveDateTime": _instant(row.get("started"), tz),
            "issued": _instant(row.get("report_signed_at") or row.get("report_written_at"), tz),
            "performer": performer,
            "imagingStudy": [{"reference": f"ImagingStudy/{fhir_id(row['study_uid'])}"}]
            if row.get("has_study")
            else None,
            "conclusion": row.get("impression"),
        }
    )
