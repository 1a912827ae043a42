"""De-identify one pydicom data set in place: PS3.15 Annex E's Basic Profile with a project's options.

Pure (a data set in, the same data set changed, no I/O): the research export and routing call it on each
instance. Every element at every depth goes through :func:`transforms.deid.profile.action_for`; private
elements are removed unless a safe-list entry names them (creator and element); UIDs are replaced with keyed
UIDs everywhere they stand (references included, so links between instances hold); dates move by one keyed
offset per patient, so intervals within a patient hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from transforms.deid.keys import date_shift_days, keyed_patient_id, keyed_uid
from transforms.deid.profile import BASIC_PROFILE_CODE, EDITION, OPTION_CODES, action_for

METHOD = f"radlake: DICOM PS3.15 {EDITION} Annex E Basic Profile"
_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT", "UI"}
_MAX_LEN = {"AE": 16, "SH": 16, "CS": 16, "AS": 4, "LO": 64, "PN": 64, "ST": 1024}
# Runs of digits long enough to be a phone, ID card or record number; the names of the patient.
_UNDEFINED = 0xFFFFFFFF
_NUMERIC_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"}
_LONG_NUMBER = re.compile(r"\d[\d\-\s]{5,}\d")


@dataclass(frozen=True)
class DeidPolicy:
    """What a project's export does: its key, the options it selects and the private elements it keeps.

    ``safe_private``: (group, private creator, element byte) triples kept, e.g. ``(0x0019, "GEMS_ACQU_01",
    0x10)``; every other private element is removed.
    """

    key: bytes
    options: frozenset[str] = frozenset()
    safe_private: frozenset[tuple[int, str, int]] = frozenset()


@dataclass
class _Context:
    policy: DeidPolicy
    shift: timedelta
    patient_id: str
    names: tuple[str, ...]
    shifted: bool = False
    uids: dict[str, str] = field(default_factory=dict)


def deidentify(ds: Dataset, policy: DeidPolicy, patient_key: str) -> dict[str, str]:
    """Apply the profile to ``ds`` (and its file meta) in place.

    Parameters
    ----------
    ds
        A data set read with pydicom (pixel data is never touched).
    policy
        The project's key, options and safe private elements.
    patient_key
        Who the patient is across the group (the master-index id, else institution and patient id): the date
        offset and the pseudonymous patient id derive from it.

    Returns
    -------
    dict
        Each replaced UID, original → new (the stewards' map of this instance).
    """
    names = tuple(p for p in re.split(r"[\^=\s]+", str(ds.get("PatientName", "") or "")) if len(p) >= 2)
    ctx = _Context(
        policy=policy,
        shift=timedelta(days=date_shift_days(policy.key, patient_key)),
        patient_id=keyed_patient_id(policy.key, patient_key),
        names=names,
    )
    _walk(ds, ctx)
    texts = {
        0x00100020: ("LO", ctx.patient_id),  # Patient ID: a keyed pseudonym (Z/D allows a dummy)
        0x00100010: ("PN", ctx.patient_id),  # Patient's Name: the same pseudonym (Z allows a dummy)
        0x00120062: ("CS", "YES"),  # Patient Identity Removed
        0x00120063: ("LO", METHOD),  # De-identification Method
    }
    if ctx.shifted:
        texts[0x00280303] = ("CS", "MODIFIED")  # Longitudinal Temporal Information Modified
    for tag, (vr, text) in texts.items():
        _set_text(ds, BaseTag(tag), vr, text)
    ds[_METHOD_CODES] = _method_codes(policy.options, explicit_le=ds.original_encoding == (False, True))
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ctx.uids


_METHOD_CODES = BaseTag(0x00120064)  # De-identification Method Code Sequence


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


@lru_cache(maxsize=64)
def _method_code_bytes(options: frozenset[str]) -> bytes:
    codes = [BASIC_PROFILE_CODE, *(OPTION_CODES[o] for o in sorted(options) if o in OPTION_CODES)]
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, DataElement(_METHOD_CODES, "SQ", Sequence([_code(v, m) for v, m in codes])))
    return fp.getvalue()[12:]  # the value, after tag, VR, reserved bytes and length


def _method_codes(options: frozenset[str], *, explicit_le: bool) -> DataElement | RawDataElement:
    """The code sequence, encoded once per set of options (an explicit VR little endian data set takes the bytes)."""
    value = _method_code_bytes(options)
    if explicit_le:
        return RawDataElement(_METHOD_CODES, "SQ", len(value), value, 0, False, True)
    codes = [BASIC_PROFILE_CODE, *(OPTION_CODES[o] for o in sorted(options) if o in OPTION_CODES)]
    return DataElement(_METHOD_CODES, "SQ", Sequence([_code(v, m) for v, m in codes]))


def _set_text(ds: Dataset, tag: BaseTag, vr: str, text: str) -> None:
    """Set an ASCII text value; on a data set read as explicit VR little endian, as raw bytes (never re-parsed)."""
    if ds.original_encoding == (False, True):
        data = text.encode("ascii")
        if len(data) % 2:
            data += b"\0" if vr == "UI" else b" "
        ds[tag] = RawDataElement(tag, vr, len(data), data, 0, False, True)
    else:
        ds[tag] = DataElement(tag, vr, text)


def _walk(ds: Dataset, ctx: _Context) -> None:
    kept_creators = _safe_private_blocks(ds, ctx.policy)
    for tag in list(ds.keys()):
        if tag.is_private:
            if not _keep_private(tag, kept_creators):
                del ds[tag]
            continue
        action = action_for(int(tag), ctx.policy.options)
        if action is None or action == "K":
            # Kept as read: only sequences are opened; every other value stays raw bytes, written back unparsed.
            if _is_sequence(ds, tag):
                _each_item(ds[tag], ctx)
            continue
        if action == "X":
            del ds[tag]  # never parsed
        elif not _apply_raw(ds, tag, action, ctx):
            _apply(ds, tag, ds[tag], action, ctx)


def _apply_raw(ds: Dataset, tag: BaseTag, action: str, ctx: _Context) -> bool:
    """The common actions on a value still in its raw bytes (UIDs, dates, emptied text): no parse, no checks."""
    elem = ds.get_item(tag)
    if not elem.is_raw:
        return False
    raw = cast(RawDataElement, elem)
    vr = _vr(ds, tag)
    if raw.length == _UNDEFINED or vr == "SQ" or vr not in _STRING_VRS:
        return False
    text = (raw.value or b"").decode("ascii", "replace").rstrip("\0 ")
    if action == "Z":
        new = ""
    elif vr == "UI" and action in ("U", "D"):
        new = "\\".join(str(_replace_uids(uid.strip(), ctx)) for uid in text.split("\\"))
    elif vr in ("DA", "DT") and action in ("C", "D"):
        new = "\\".join(_shift_one(value, ctx) for value in text.split("\\")) if text else ""
    else:
        return False
    data = new.encode("ascii")
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    ds[tag] = RawDataElement(tag, raw.VR, len(data), data, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian)
    return True


def _vr(ds: Dataset, tag: BaseTag) -> str | None:
    vr = ds.get_item(tag).VR
    if vr is None:  # implicit VR, not yet parsed: the dictionary's VR
        try:
            return str(dictionary_VR(tag))
        except KeyError:
            return None
    return str(vr)


def _is_sequence(ds: Dataset, tag: BaseTag) -> bool:
    return _vr(ds, tag) == "SQ"


def _each_item(elem: DataElement, ctx: _Context) -> None:
    for item in elem.value or ():
        _walk(item, ctx)


def _apply(ds: Dataset, tag: BaseTag, elem: DataElement, action: str, ctx: _Context) -> None:
    if action == "X":
        del ds[tag]
    elif action == "U":
        elem.value = _replace_uids(elem.value, ctx)
    elif action == "Z":
        elem.value = Sequence() if elem.VR == "SQ" else ("" if elem.VR in _STRING_VRS else None)
    elif action == "D":
        if elem.VR == "SQ":
            _each_item(elem, ctx)
        else:
            elem.value = _dummy(elem, ctx)
    elif action == "C":
        if elem.VR == "SQ":
            _each_item(elem, ctx)
        else:
            elem.value = _clean(elem, ctx)


def _replace_uids(value: object, ctx: _Context) -> object:
    def one(uid: str) -> str:
        if not uid:
            return uid
        new = ctx.uids.get(uid)
        if new is None:
            new = ctx.uids[uid] = keyed_uid(ctx.policy.key, uid)
        return new

    if value is None or isinstance(value, str):
        return one(value) if value else value
    return [one(str(v)) for v in cast(Iterable[object], value)]  # a multi-valued UI (MultiValue)


def _dummy(elem: DataElement, ctx: _Context) -> object:
    vr = elem.VR
    if vr == "UI":
        return _replace_uids(elem.value, ctx)
    if vr in ("DA", "DT"):
        return _shift(elem, ctx) if elem.value else elem.value
    if vr == "TM":
        return "000000"
    if vr == "PN":
        return "ANONYMIZED"
    if vr == "CS":
        return elem.value  # enumerated values: a dummy would break the IOD, and codes do not identify
    if vr in ("IS", "DS"):
        return "0"
    if vr in _STRING_VRS:
        return "ANONYMIZED"[: _MAX_LEN.get(vr, 64)] if vr != "AS" else "000Y"
    return 0 if vr in _NUMERIC_VRS else None


def _clean(elem: DataElement, ctx: _Context) -> object:
    if elem.VR in ("DA", "DT"):
        return _shift(elem, ctx)
    if elem.VR in ("LO", "SH", "ST", "LT", "UT", "UC", "PN") and elem.value:
        values = elem.value if elem.VM > 1 else [elem.value]
        cleaned = [_scrub(str(v), ctx) for v in values]
        return cleaned if elem.VM > 1 else cleaned[0]
    return elem.value


def _scrub(text: str, ctx: _Context) -> str:
    text = _LONG_NUMBER.sub("*", text)
    for name in ctx.names:
        text = text.replace(name, "*")
    return text


def _shift(elem: DataElement, ctx: _Context) -> object:
    values = elem.value if elem.VM > 1 else [elem.value]
    out = [_shift_one(str(v), ctx) for v in values if v is not None]
    return out if elem.VM > 1 else (out[0] if out else elem.value)


def _shift_one(value: str, ctx: _Context) -> str:
    value = value.strip()
    try:
        day = datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return ""  # an unparseable date is dropped, never kept as it was
    ctx.shifted = True
    return (day + ctx.shift).strftime("%Y%m%d") + value[8:]  # a DT keeps its time of day and offset


def _safe_private_blocks(ds: Dataset, policy: DeidPolicy) -> dict[tuple[int, int], set[int]]:
    """(group, block) → element bytes kept, for the private creators on the safe list."""
    if not policy.safe_private:
        return {}
    kept: dict[tuple[int, int], set[int]] = {}
    for group, creator, element in policy.safe_private:
        for block in range(0x10, 0x100):
            tag = (group << 16) | block
            if tag in ds and str(ds[tag].value).strip() == creator:
                kept.setdefault((group, block), set()).add(element)
    return kept


def _keep_private(tag: BaseTag, kept: dict[tuple[int, int], set[int]]) -> bool:
    group, element = tag.group, tag.element
    if 0x0010 <= element <= 0x00FF:  # a private creator: kept with its block
        return (group, element) in kept
    elements = kept.get((group, element >> 8))
    return elements is not None and (element & 0xFF) in elements
