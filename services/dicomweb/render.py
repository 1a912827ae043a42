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


# Each level's attributes in three layers, the later winning: the index's columns, the level's landed
# attributes (``study_json``/``series_json``: as written, Person Name groups included), then what the pipeline
# computed (UIDs, counts, modalities). Across levels the more specific one wins (instance over series over study).
_STUDY_COLUMNS = {
    "00080020": ("DA", "st.study_date"), "00080030": ("TM", "st.study_time"),
    "00080050": ("SH", "st.accession_number"), "00080080": ("LO", "st.institution_name"),
    "00080090": ("PN", "st.referring_physician_name"), "00081030": ("LO", "st.study_description"),
    "00100010": ("PN", "st.patient_name"), "00100020": ("LO", "st.patient_id"),
    "00100030": ("DA", "st.patient_birth_date"), "00100040": ("CS", "st.patient_sex"),
    "00200010": ("SH", "st.study_id"),
}  # fmt: skip
_STUDY_COMPUTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "0020000D": lambda r: _element("UI", r["st.study_instance_uid"]),
    "00080061": lambda r: _element("CS", list(r["st.modalities"] or [])),
    "00080062": lambda r: _element("UI", list(r["st.sop_classes"] or [])),
    "00201206": lambda r: _element("IS", r["st.series_count"]),
    "00201208": lambda r: _element("IS", r["st.instance_count"]),
}
_SERIES_COLUMNS = {
    "00080060": ("CS", "se.modality"), "0008103E": ("LO", "se.series_description"),
    "00200011": ("IS", "se.series_number"), "00400244": ("DA", "se.pps_start_date"),
    "00400245": ("TM", "se.pps_start_time"),
}  # fmt: skip
_SERIES_COMPUTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "0020000D": lambda r: _element("UI", r["se.study_instance_uid"]),
    "0020000E": lambda r: _element("UI", r["se.series_instance_uid"]),
    "00201209": lambda r: _element("IS", r["se.instance_count"]),
}
_INSTANCE_COLUMNS = {
    "00080016": ("UI", "i.sop_class_uid"), "00080018": ("UI", "i.sop_instance_uid"),
    "0020000D": ("UI", "i.study_instance_uid"), "0020000E": ("UI", "i.series_instance_uid"),
    "00200013": ("IS", "i.instance_number"), "00280008": ("IS", "i.number_of_frames"),
    "00280010": ("US", "i.rows"), "00280011": ("US", "i.columns"), "00280100": ("US", "i.bits_allocated"),
}  # fmt: skip
_Layers = tuple[dict[str, tuple[str, str]], str | None, dict[str, Callable[[dict[str, Any]], dict[str, Any]]]]
_LAYERS: dict[Level, _Layers] = {
    "study": (_STUDY_COLUMNS, "st.study_json", _STUDY_COMPUTED),
    "series": (_SERIES_COLUMNS, "se.series_json", _SERIES_COMPUTED),
    "instance": (_INSTANCE_COLUMNS, None, {}),
}
_LEVELS_OF: dict[Level, tuple[Level, ...]] = {
    "study": ("study",), "series": ("series", "study"), "instance": ("instance", "series", "study"),
}  # fmt: skip


def _level_source(row: dict[str, Any], level: Level) -> dict[str, Any]:
    """Every attribute one level of the row holds (for ``includefield=all``)."""
    columns, landed, computed = _LAYERS[level]
    out = {tag: _element(vr, _da(row[c]) if vr == "DA" else row[c]) for tag, (vr, c) in columns.items()}
    if landed is not None:
        out.update(_parsed(row.get(landed)))
    out.update({tag: make(row) for tag, make in computed.items()})
    return out


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
    rows: list[dict[str, Any]],
    level: Level,
    query: Query,
    *,
    scoped: Level | None,
    base: str,
    deid: SpaceDeid | None,
) -> list[dict[str, Any]]:
    """A page of QIDO-RS answer items.

    Parameters
    ----------
    rows
        The rows of :func:`services.dicomweb.search.search`.
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
    plan = _plan(level, _wanted(level, scoped, tuple(query.return_paths)))
    # Without includefield=all or de-identification, the plan's order (by tag) is the answer's: no sort per item.
    ordered = not query.include_all and deid is None
    return [_item(row, level, plan, query.include_all, base, deid, ordered) for row in rows]


def _item(
    row: dict[str, Any],
    level: Level,
    plan: tuple[_Planned, ...],
    include_all: bool,
    base: str,
    deid: SpaceDeid | None,
    ordered: bool,
) -> dict[str, Any]:
    """One answer item (see :func:`render`)."""
    landed = [_parsed(row.get(column)) for column in _LANDED[level]]
    out: dict[str, Any] = {}
    for tag, sources, kind, source, vr, empty in plan:
        for n in sources:  # the most specific level's landed attribute wins
            found = landed[n].get(tag)
            if found is not None:
                out[tag] = found
                break
        else:
            if kind == _COLUMN:
                value = row[source]
                out[tag] = _element(vr, _da(value) if vr == "DA" else value)
            elif kind == _COMPUTED:
                out[tag] = source(row)
            elif kind == _FIXED:
                out[tag] = _fixed(tag, row, level, base, deid)
            elif empty is not None:
                out[tag] = {"vr": empty}
    if include_all:
        for part in reversed(_LEVELS_OF[level]):  # study first, so the more specific levels win
            out.update(_level_source(row, part))
        for tag in _FIXED_TAGS:  # what the answer always says wins over the index
            out[tag] = _fixed(tag, row, level, base, deid)
    if deid is not None:  # the profile sees what it saw before the Retrieve URL, which names the keyed UIDs
        out.pop("00081190", None)
        out = deid.dataset_json(out, row["st." + deid.column("pkey")] or "")
        out["00081190"] = _fixed("00081190", row, level, base, deid)
    return out if ordered else dict(sorted(out.items()))


_FIXED_TAGS = ("00080005", "00080056", "00081190")


def _fixed(tag: str, row: dict[str, Any], level: Level, base: str, deid: SpaceDeid | None) -> dict[str, Any]:
    """What every answer item says: Specific Character Set, Instance Availability, Retrieve URL."""
    if tag == "00080005":
        return {"vr": "CS", "Value": [UTF8]}
    if tag == "00080056":
        return {"vr": "CS", "Value": ["ONLINE"]}
    shown = deid.uid if deid is not None else _same
    return {"vr": "UR", "Value": [_retrieve_url(base, row, level, shown)]}


def _same(uid: str) -> str:
    return uid


_COMPUTED, _COLUMN, _FIXED, _NONE = 0, 1, 2, 3
_LANDED: dict[Level, tuple[str, ...]] = {
    level: tuple(landed for part in _LEVELS_OF[level] if (landed := _LAYERS[part][1]) is not None)
    for level in _LEVELS_OF
}
# One tag of an answer item: the landed attributes to look in first (positions in the level's _LANDED, the
# most specific first), then where the tag comes from when none holds it (a computed value, a column with its
# VR, what every answer says, or nothing), and the VR of the empty element a return key gets then (None: left out).
_Planned = tuple[str, tuple[int, ...], int, Any, str, str | None]


@lru_cache(maxsize=1024)
def _plan(level: Level, wanted: tuple[str, ...]) -> tuple[_Planned, ...]:
    """Where each wanted tag of an answer item comes from, worked out once per request shape rather than per
    row and tag. Per level (the most specific first) a computed value, else the landed attribute when the row's
    landed JSON has it, else the column; the search stops at the first source that always holds the tag. And the
    VR of the empty element a return key gets when no source holds it (None: the tag is left out). Sorted by tag,
    with what every item says (:data:`_FIXED_TAGS`) in its place, overriding the index."""
    plan: list[_Planned] = [(tag, (), _FIXED, None, "", None) for tag in _FIXED_TAGS]
    for tag in wanted:
        if tag in _FIXED_TAGS:
            continue
        sources: list[int] = []
        kind, vr = _NONE, ""
        source: Any = None  # a column's name or a computing function
        for part in _LEVELS_OF[level]:
            columns, landed, computed = _LAYERS[part]
            if tag in computed:
                kind, source = _COMPUTED, computed[tag]
                break
            if landed is not None:
                sources.append(_LANDED[level].index(landed))
            if tag in columns:
                vr, column = columns[tag]
                kind, source = _COLUMN, column
                break
        empty = _vr(tag) if tag in RETURN_TAGS[level] or tag in RETURN_TAGS["study"] else None
        plan.append((tag, tuple(sources), kind, source, vr, empty))
    return tuple(sorted(plan, key=lambda p: p[0]))


@lru_cache(maxsize=1024)
def _wanted(level: Level, scoped: Level | None, return_paths: tuple[str, ...]) -> tuple[str, ...]:
    """The tags an answer item carries: the level's return keys (and its parents' when not fixed by the path,
    PS3.18 6.7.1.2.2), the UIDs above it, then the query's empty keys and includefields, each once."""
    wanted: list[str] = list(RETURN_TAGS[level])
    if level != "study" and scoped is None:
        wanted += RETURN_TAGS["study"]
    if level == "instance" and scoped != "series":
        wanted += RETURN_TAGS["series"]
    wanted += {"study": [], "series": ["0020000D"], "instance": ["0020000D", "0020000E"]}[level]
    wanted += [p.split(".")[0] for p in return_paths]
    return tuple(dict.fromkeys(wanted))


@lru_cache(maxsize=1024)
def _vr(tag: str) -> str:
    try:
        return str(dictionary_VR(int(tag, 16)))
    except KeyError:
        return "UN"
