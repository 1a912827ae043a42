"""The QIDO-RS keys radlake matches and returns, per level, and how each maps onto the index's columns.

Required matching keys are those of PS3.18 Table 10.6.1-5; a few optional ones that viewers send (OHIF
filters on Study Description) are matched too. A key names the DuckDB column it is matched on (never text
of the request) and how: ``uid`` (single UID or a list), ``date`` / ``time`` (single value or range), ``pn``
(case-insensitive, wildcards, fuzzy), ``text`` (exact or wildcards), ``int`` (exact), ``list`` (any element
of a list column), ``cs`` (exact or wildcards, or a list of values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydicom.datadict import dictionary_keyword, dictionary_VR, tag_for_keyword

Level = Literal["study", "series", "instance"]
Kind = Literal["uid", "date", "time", "pn", "text", "int", "list", "cs"]


@dataclass(frozen=True)
class MatchKey:
    """One matching key: its tag path (``"0020000D"`` or ``"00400275.00400009"``), level, column and kind."""

    path: str
    keyword: str
    level: Level
    column: str
    kind: Kind


_KEYS = (
    MatchKey("00080020", "StudyDate", "study", "st.study_date", "date"),
    MatchKey("00080030", "StudyTime", "study", "st.study_time", "time"),
    MatchKey("00080050", "AccessionNumber", "study", "st.accession_number", "text"),
    MatchKey("00080061", "ModalitiesInStudy", "study", "st.modalities", "list"),
    MatchKey("00080090", "ReferringPhysicianName", "study", "st.referring_physician_name", "pn"),
    MatchKey("00100010", "PatientName", "study", "st.patient_name", "pn"),
    MatchKey("00100020", "PatientID", "study", "st.patient_id", "text"),
    MatchKey("0020000D", "StudyInstanceUID", "study", "st.study_instance_uid", "uid"),
    MatchKey("00200010", "StudyID", "study", "st.study_id", "text"),
    MatchKey("00081030", "StudyDescription", "study", "st.study_description", "text"),
    MatchKey("00100030", "PatientBirthDate", "study", "st.patient_birth_date", "text"),
    MatchKey("00100040", "PatientSex", "study", "st.patient_sex", "cs"),
    MatchKey("00080060", "Modality", "series", "se.modality", "cs"),
    MatchKey("0020000E", "SeriesInstanceUID", "series", "se.series_instance_uid", "uid"),
    MatchKey("00200011", "SeriesNumber", "series", "se.series_number", "int"),
    MatchKey("00400244", "PerformedProcedureStepStartDate", "series", "se.pps_start_date", "date"),
    MatchKey("00400245", "PerformedProcedureStepStartTime", "series", "se.pps_start_time", "time"),
    MatchKey("00400275.00400009", "RequestAttributesSequence.ScheduledProcedureStepID", "series",
             "se.scheduled_step_ids", "list"),
    MatchKey("00400275.00401001", "RequestAttributesSequence.RequestedProcedureID", "series",
             "se.requested_procedure_ids", "list"),
    MatchKey("0008103E", "SeriesDescription", "series", "se.series_description", "text"),
    MatchKey("00180015", "BodyPartExamined", "series", "se.body_part_examined", "cs"),
    MatchKey("00080016", "SOPClassUID", "instance", "i.sop_class_uid", "uid"),
    MatchKey("00080018", "SOPInstanceUID", "instance", "i.sop_instance_uid", "uid"),
    MatchKey("00200013", "InstanceNumber", "instance", "i.instance_number", "int"),
)  # fmt: skip
MATCH_KEYS: dict[str, MatchKey] = {k.path: k for k in _KEYS}

LEVEL_RANK: dict[Level, int] = {"study": 0, "series": 1, "instance": 2}

RETURN_TAGS: dict[Level, tuple[str, ...]] = {
    # PS3.18 Table 6.7.1-2, -2a, -2b: what every answer of the level carries.
    "study": ("00080005", "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00080201",
              "00081190", "00100010", "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206",
              "00201208"),
    "series": ("00080005", "00080056", "00080060", "00080201", "0008103E", "00081190", "0020000E", "00200011",
               "00201209", "00400244", "00400245", "00400275"),
    "instance": ("00080005", "00080016", "00080018", "00080056", "00080201", "00081190", "00200013", "00280008",
                 "00280010", "00280011", "00280100"),
}  # fmt: skip


def tag_path(name: str) -> str | None:
    """The tag path of an attribute named by keyword or tag (``PatientName``, ``00100010``, ``0040A730.0040A040``).

    Returns None when a part names no attribute of the standard's dictionary.
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    out = []
    for part in parts:
        if len(part) == 8 and all(c in "0123456789abcdefABCDEF" for c in part):
            tag = int(part, 16)
            try:
                dictionary_VR(tag)
            except KeyError:
                if (tag >> 16) % 2 == 0:  # private tags are named by number and have no dictionary entry
                    return None
        else:
            found = tag_for_keyword(part) if part.isidentifier() and len(part) <= 64 else None
            if found is None:
                return None
            tag = int(found)
        out.append(f"{tag:08X}")
    return ".".join(out)


def keyword_of(path: str) -> str:
    """The keyword path of a tag path, for messages (the tag itself when the dictionary has no keyword)."""
    return ".".join(_keyword(p) for p in path.split("."))


def _keyword(tag: str) -> str:
    try:
        return dictionary_keyword(int(tag, 16)) or tag
    except KeyError:  # a private tag
        return tag
