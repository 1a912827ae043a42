"""Attribute de-identification of a DICOM header: one rule per (tag, VR), applied to DICOM JSON and to datasets.

The rules follow PS3.15 Annex E's Basic Application Level Confidentiality Profile with two of its options:
*Retain Longitudinal Temporal Information with Full Dates* (study, series and acquisition dates and times
are kept: research asks "which studies between") and *Retain Patient Characteristics* (sex, age, size,
weight). Everything else is decided by an allow list, not a deny list, so an attribute nobody thought of
is removed rather than leaked:

- UIDs (VR UI) become keyed pseudonymous UIDs (:func:`transforms.deid.uids.pseudo_uid`), except the
  standard's own (``1.2.840.10008.*``: SOP classes, transfer syntaxes, coding schemes).
- Patient ID, other patient IDs and accession numbers become keyed 16-hex pseudonyms (the same value the
  analysts' marts carry), so a research user can still tell studies of one patient apart.
- Patient Name is kept empty (a type 2 attribute); birth date and time are removed.
- Numbers, coded strings (CS) and dates are kept; text (PN, LO, SH, ST, LT, UT, UC, AE, UR) is removed
  except device names; private tags, overlays and binary values other than the image's are removed.
- Sequences are walked with the same rules.

``tests/transforms/test_deid.py`` checks these rules against the Basic Profile's own list of attributes
(as dicom-anonymizer ships it): each is removed, emptied or replaced unless one of the two options keeps it.
"""

from __future__ import annotations

import copy
from typing import Any

from radlake.pseudonym import keyed_pseudonym
from transforms.deid.uids import pseudo_uid

STANDARD_UID_ROOT = "1.2.840.10008."

PSEUDONYM_TAGS = frozenset({0x00100020, 0x00101000, 0x00080050})
"""Patient ID, Other Patient IDs, Accession Number: replaced by keyed pseudonyms."""

EMPTY_TAGS = frozenset({0x00100010})
"""Patient Name: kept present and empty (type 2 in every IOD)."""

REMOVED_TAGS = frozenset({0x00100030, 0x00100032, 0x00101002, 0x00081120, 0x00203401})
"""Birth date and time, Other Patient IDs Sequence, Referenced Patient Sequence, Modifying Device ID."""

REMOVED_GROUPS = frozenset({0x0016, 0x0400})
"""Whole groups removed: 0016 (camera and GPS position of visible-light images), 0400 (signatures, and the
original values of modified attributes)."""

KEPT_TEXT_TAGS = frozenset({0x00080070, 0x00081090, 0x00101010})
"""Manufacturer, Manufacturer's Model Name, Patient's Age (AS)."""

_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "AE", "UR", "AS"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

DEID_METHOD = "PS3.15 Basic; Retain Longitudinal Full Dates, Patient Chars"

Action = str  # "keep" | "remove" | "empty" | "uid" | "pseudonym" | "walk"


def rule_for(tag: int, vr: str) -> Action:
    """What de-identification does to one attribute.

    Parameters
    ----------
    tag
        The attribute's tag as an int (``0x00100010``).
    vr
        Its value representation.

    Returns
    -------
    str
        ``keep``, ``remove``, ``empty`` (present without a value), ``uid`` (each value to its keyed UID unless a
        standard one), ``pseudonym`` (each value to its keyed 16-hex pseudonym) or ``walk`` (a sequence whose
        items get the same rules).
    """
    group = tag >> 16
    if group % 2 == 1 or group in REMOVED_GROUPS or 0x6000 <= group <= 0x60FF or tag in REMOVED_TAGS:
        return "remove"
    if tag in PSEUDONYM_TAGS:
        return "pseudonym"
    if tag in EMPTY_TAGS:
        return "empty"
    if vr == "SQ":
        return "walk"
    if vr == "UI":
        return "uid"
    if vr in _TEXT_VRS:
        return "keep" if tag in KEPT_TEXT_TAGS else "remove"
    if vr in _BINARY_VRS:
        # The image and its look-up tables stay (group 0028, 7FE0); any other blob may hold anything.
        return "keep" if group in (0x0028, 0x7FE0) else "remove"
    return "keep"


def _uid_value(key: bytes, value: Any) -> Any:
    if isinstance(value, str) and value and not value.startswith(STANDARD_UID_ROOT):
        return pseudo_uid(key, value)
    return value


def _pseudonym_value(key: bytes, value: Any) -> Any:
    return keyed_pseudonym(key, str(value)) if value not in (None, "") else value


def deidentify_json(dataset: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A de-identified copy of a data set in the DICOM JSON model (PS3.18 F.2), keys ``"GGGGEEEE"``.

    Parameters
    ----------
    dataset
        The header as DICOM JSON (``{"00100010": {"vr": "PN", "Value": [...]}, ...}``); not changed.
    key
        The site's pseudonym key.

    Returns
    -------
    dict
        The attributes the rules keep, with UIDs and IDs replaced, plus Patient Identity Removed = YES and the
        method used (0012,0062 / 0012,0063).
    """
    out = _deidentified_items(dataset, key)
    out["00120062"] = {"vr": "CS", "Value": ["YES"]}
    out["00120063"] = {"vr": "LO", "Value": [DEID_METHOD]}
    return dict(sorted(out.items()))


def _deidentified_items(dataset: dict[str, Any], key: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag_text, element in dataset.items():
        try:
            tag = int(tag_text, 16)
        except ValueError:
            continue
        vr = element.get("vr", "UN")
        action = rule_for(tag, vr)
        if action == "remove":
            continue
        if action == "empty":
            out[tag_text] = {"vr": vr}
            continue
        if action == "keep" and "BulkDataURI" in element:
            continue  # a marker of a value we do not hold; never an address of the identified store
        new = {k: v for k, v in element.items() if k in ("vr", "Value", "InlineBinary")}
        values = element.get("Value")
        if values is not None and action == "uid":
            new["Value"] = [_uid_value(key, v) for v in values]
        elif values is not None and action == "pseudonym":
            new["Value"] = [_pseudonym_value(key, v) for v in values]
        elif values is not None and action == "walk":
            new["Value"] = [_deidentified_items(item, key) if isinstance(item, dict) else {} for item in values]
        out[tag_text] = new
    return out


def deidentify_dataset(dataset: Any, key: bytes) -> Any:
    """A de-identified copy of a pydicom ``Dataset`` (with its file meta), by the same rules as the JSON.

    Parameters
    ----------
    dataset
        A ``pydicom.Dataset`` or ``FileDataset``; not changed.
    key
        The site's pseudonym key.

    Returns
    -------
    pydicom.Dataset
        The copy; its file meta's Media Storage SOP Instance UID follows the new SOP Instance UID.
    """
    from pydicom.dataelem import DataElement

    ds = copy.deepcopy(dataset)
    _deidentify_items(ds, key)
    ds.add(DataElement(0x00120062, "CS", "YES"))
    ds.add(DataElement(0x00120063, "LO", DEID_METHOD))
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = _uid_value(key, str(meta.MediaStorageSOPInstanceUID))
    return ds


def _deidentify_items(ds: Any, key: bytes) -> None:
    for elem in list(ds):
        action = rule_for(int(elem.tag), str(elem.VR))
        if action == "remove":
            del ds[elem.tag]
        elif action == "empty":
            elem.value = ""
        elif action == "walk":
            for item in elem.value:
                _deidentify_items(item, key)
        elif action in ("uid", "pseudonym") and elem.value not in (None, ""):
            change = _uid_value if action == "uid" else _pseudonym_value
            if elem.VM > 1:
                elem.value = [change(key, str(v)) for v in elem.value]
            else:
                elem.value = change(key, str(elem.value))
