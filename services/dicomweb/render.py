"""Index rows → DICOM JSON (PS3.18 F.2): the level's return keys, the requested ones, or all it holds.

An attribute comes from the study's or series' landed attributes where the index holds them (as written,
Person Name groups included), else from the index's columns; counts, modalities and the Retrieve URL are
computed by the pipeline or here. For a de-identified space the whole answer passes through the research
export's engine with the space's project policy (:mod:`services.dicomweb.deid`), and its Retrieve URL names the
keyed UIDs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

import orjson
from pydicom.datadict import dictionary_VR

from services.dicomweb.deid import SpaceDeid
from services.dicomweb.keys import RETURN_TAGS, Level
from services.dicomweb.query import Query

UTF8 = "ISO_IR 192"
"""Specific Character Set of every answer: the JSON is UTF-8 whatever the files were written in."""


def _element(vr: str, value: Any) -> dict[str, Any]:
    if value is None or value == "" or value == []:
        return {"vr": vr}
    values = value if isinstance(value, list) else [value]
    if vr == "PN":
        return {"vr": vr, "Value": [_pn(str(v)) for v in values]}
    return {"vr": vr, "Value": values}


def _pn(raw: str) -> dict[str, str]:
    groups = raw.split("=")
    return {k: g for k, g in zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False) if g}


@lru_cache(maxsize=8192)
def _parsed(text: str | None) -> dict[str, Any]:
    """A level's attributes parsed once for all the rows that share them (the result is never changed)."""
    return orjson.loads(text) if text else {}


def _da(value: Any) -> str | None:
    return value.strftime("%Y%m%d") if isinstance(value, date) else (value or None)


def _study(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "00080020": _element("DA", _da(row["st.study_date"])),
        "00080030": _element("TM", row["st.study_time"]),
        "00080050": _element("SH", row["st.accession_number"]),
        "00080080": _element("LO", row["st.institution_name"]),
        "00080090": _element("PN", row["st.referring_physician_name"]),
        "00081030": _element("LO", row["st.study_description"]),
        "00100010": _element("PN", row["st.patient_name"]),
        "00100020": _element("LO", row["st.patient_id"]),
        "00100030": _element("DA", row["st.patient_birth_date"]),
        "00100040": _element("CS", row["st.patient_sex"]),
        "00200010": _element("SH", row["st.study_id"]),
    }
    out.update(_parsed(row.get("st.study_json")))
    out.update(
        {
            "0020000D": _element("UI", row["st.study_instance_uid"]),
            "00080061": _element("CS", list(row["st.modalities"] or [])),
            "00080062": _element("UI", list(row["st.sop_classes"] or [])),
            "00201206": _element("IS", row["st.series_count"]),
            "00201208": _element("IS", row["st.instance_count"]),
        }
    )
    return out


def _series(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "00080060": _element("CS", row["se.modality"]),
        "0008103E": _element("LO", row["se.series_description"]),
        "00200011": _element("IS", row["se.series_number"]),
        "00400244": _element("DA", row["se.pps_start_date"]),
        "00400245": _element("TM", row["se.pps_start_time"]),
    }
    out.update(_parsed(row.get("se.series_json")))
    out.update(
        {
            "0020000D": _element("UI", row["se.study_instance_uid"]),
            "0020000E": _element("UI", row["se.series_instance_uid"]),
            "00201209": _element("IS", row["se.instance_count"]),
        }
    )
    return out


def _instance(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "00080016": _element("UI", row["i.sop_class_uid"]),
        "00080018": _element("UI", row["i.sop_instance_uid"]),
        "0020000D": _element("UI", row["i.study_instance_uid"]),
        "0020000E": _element("UI", row["i.series_instance_uid"]),
        "00200013": _element("IS", row["i.instance_number"]),
        "00280008": _element("IS", row["i.number_of_frames"]),
        "00280010": _element("US", row["i.rows"]),
        "00280011": _element("US", row["i.columns"]),
        "00280100": _element("US", row["i.bits_allocated"]),
    }


def _retrieve_url(base: str, row: dict[str, Any], level: Level, shown: Callable[[str], str]) -> str:
    """The resource's WADO-RS address, its UIDs as the space sees them (``shown``)."""
    study = shown(row.get("st.study_instance_uid") or row["se.study_instance_uid"])
    if level == "study":
        return f"{base}/studies/{study}"
    if level == "series":
        return f"{base}/studies/{study}/series/{shown(row['se.series_instance_uid'])}"
    series, sop = shown(row["i.series_instance_uid"]), shown(row["i.sop_instance_uid"])
    return f"{base}/studies/{study}/series/{series}/instances/{sop}"


def render(
    row: dict[str, Any], level: Level, query: Query, *, scoped: Level | None, base: str, deid: SpaceDeid | None
) -> dict[str, Any]:
    """One QIDO-RS answer item.

    Parameters
    ----------
    row
        A row of :func:`services.dicomweb.search.search`.
    level
        The level searched.
    query
        The checked query (its empty keys and includefields are returned; ``includefield=all`` returns every
        attribute the index holds for the study, series and instance).
    scoped
        The deepest level fixed by the path (``studies/{uid}/series`` → ``study``), whose attributes are
        left out (PS3.18 6.7.1.2.2); None for searches over all studies.
    base
        The space's DICOMweb base URL, for Retrieve URL.
    deid
        The de-identification of a de-identified space; None for an identified one.
    """
    source: dict[str, Any] = {}
    wanted: list[str] = list(RETURN_TAGS[level])
    if level != "study" and scoped is None:
        wanted += RETURN_TAGS["study"]
    if level == "instance" and scoped != "series":
        wanted += RETURN_TAGS["series"]
    wanted += {"study": [], "series": ["0020000D"], "instance": ["0020000D", "0020000E"]}[level]
    source.update(_study(row))
    if level != "study":
        source.update(_series(row))
    if level == "instance":
        source.update(_instance(row))
    wanted += [p.split(".")[0] for p in query.return_paths]
    out: dict[str, Any] = {}
    for tag in dict.fromkeys(wanted):
        if tag in source:
            out[tag] = source[tag]
        elif tag in RETURN_TAGS[level] or tag in RETURN_TAGS["study"]:
            out[tag] = {"vr": _vr(tag)}
    if query.include_all:
        out.update(source)
    out["00080056"] = {"vr": "CS", "Value": ["ONLINE"]}
    out["00080005"] = {"vr": "CS", "Value": [UTF8]}
    if deid is not None:
        out = deid.dataset_json(out, row["st." + deid.column("pkey")] or "")
        out["00081190"] = {"vr": "UR", "Value": [_retrieve_url(base, row, level, deid.uid)]}
    else:
        out["00081190"] = {"vr": "UR", "Value": [_retrieve_url(base, row, level, lambda u: u)]}
    return dict(sorted(out.items()))


def _vr(tag: str) -> str:
    try:
        return str(dictionary_VR(int(tag, 16)))
    except KeyError:
        return "UN"
