"""One instance through the export: check, quarantine or de-identify, and the bytes to write (no I/O)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import pydicom
from pydicom.errors import InvalidDicomError

from transforms.deid import DeidPolicy, deidentify
from transforms.export.encode import encode

# Modalities and SOP classes whose pixels often carry burned-in text (names, dates) that no header rule removes.
RISKY_MODALITIES = frozenset({"US", "SC", "OT", "XC", "ES", "GM", "SM", "DOC"})
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class Outcome:
    """What became of one instance: ``exported`` (with its new file), ``quarantined`` or ``failed``."""

    outcome: str
    reason: str = ""
    data: bytes | None = None
    uids: dict[str, str] | None = None
    study_uid: str = ""
    series_uid: str = ""
    sop_uid: str = ""


def burned_in_reason(ds: pydicom.Dataset) -> str | None:
    """Why the pixels may carry text, or None.

    Burned In Annotation YES always quarantines. Without the attribute, the modality or SOP class decides:
    ultrasound, secondary and other captures usually carry text; CT, MR, DX and the like do not. NO is trusted.
    """
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "NO":
        return None
    if flag == "YES":
        return "Burned In Annotation is YES"
    modality = str(ds.get("Modality", "") or "").upper()
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if modality in RISKY_MODALITIES:
        return f"modality {modality} usually carries burned-in text (Burned In Annotation not NO)"
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        return "a secondary capture usually carries burned-in text (Burned In Annotation not NO)"
    return None


def export_instance(
    data: bytes, expected_sha256: str | None, policy: DeidPolicy, patient_key: str, *, allow_burned_in: bool
) -> Outcome:
    """De-identify one stored file.

    Parameters
    ----------
    data
        The stored file's bytes.
    expected_sha256
        The checksum it had when it landed: a file changed since is a failure, never exported.
    """
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        return Outcome("failed", "the stored file changed since it landed (checksum differs)")
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        return Outcome("failed", f"not readable as DICOM: {str(exc)[:200]}")
    if not allow_burned_in:
        reason = burned_in_reason(ds)
        if reason:
            return Outcome("quarantined", reason)
    try:
        uids = deidentify(ds, policy, patient_key)
        data_out = encode(ds)
    except Exception as exc:  # one broken instance fails alone, with its reason; the export goes on
        return Outcome("failed", f"de-identification failed: {type(exc).__name__}: {str(exc)[:200]}")
    return Outcome(
        "exported",
        data=data_out,
        uids=uids,
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
    )
