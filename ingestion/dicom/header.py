"""Read a DICOM file's header (never its pixel data) into typed columns and the DICOM JSON model.

A lean parser for PS3.5 data sets: it walks the elements up to Pixel Data, decodes text with the data
set's character set (see :mod:`ingestion.dicom.charset`) and builds the DICOM JSON model (PS3.18 F.2)
directly, which is several times faster than ``pydicom.dcmread(...).to_json()``. Binary values over
:data:`BULK_LIMIT` bytes are replaced by a ``BulkDataURI`` marker. Group lengths (gggg,0000) are left out
of the JSON: they are retired and say nothing about the instance.

A file that is no readable instance raises :class:`Reject` with a reason code and a detail. What one file
may make the parser hold is bounded by :class:`radlake.config.DicomLimits`: a deflated data set is inflated
only up to ``max_inflated_bytes`` (in steps, stopping at the cap), sequences nest at most ``max_depth``
levels, a header holds at most ``max_elements`` elements, and a text value longer than ``max_value_bytes``
is kept truncated with a marker (so an instance with one long report text still lands). Memory is bounded by
what is decoded and kept, not by the wire size: a value that would take the values kept for one instance
past about ``max_header_bytes`` of JSON (a control character counts six bytes, as JSON writes it) is left
out, replaced by an ``{"vr": ..., "radlake:omittedLength": n}`` marker; the typed columns' attributes are
always kept. Parsing is a pure function of the bytes and the limits.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import struct
import zlib
from dataclasses import dataclass, fields
from struct import Struct
from typing import TYPE_CHECKING, Any, Union

import orjson

from ingestion.dicom.charset import CharacterSet, character_set, decode_text
from ingestion.dicom.discover import FIRST_GROUPS, describe_non_dicom, has_dicom_prefix, looks_like_raw_dataset
from ingestion.dicom.frames import summarise_per_frame

if TYPE_CHECKING:
    from radlake.config import DicomLimits

BULK_LIMIT = 1024
"""Binary values (OB, OW, UN, ...) longer than this many bytes become a ``BulkDataURI`` marker."""

BULK_URI = "radlake:bulk-omitted?length="
"""Prefix of the marker URI; the value's length in bytes follows."""


@dataclass(frozen=True)
class ParseLimits:
    """The parser's bounds as a plain object: what a parsing worker process receives.

    :class:`radlake.config.DicomLimits` documents each bound. Unpickling this class needs no pydantic, so a worker
    imports only what parsing needs (see :mod:`ingestion.dicom.workers`); the defaults are ``DicomLimits()``'s
    (tests/dicom/test_dicom_workers.py keeps them equal).
    """

    max_inflated_bytes: int = 64 << 20
    max_value_bytes: int = 64 << 10
    max_depth: int = 32
    max_elements: int = 200_000
    max_header_bytes: int = 16 << 20
    max_file_bytes: int = 4 << 30

    @classmethod
    def of(cls, limits: Limits) -> ParseLimits:
        """The same bounds as ``limits`` (a :class:`radlake.config.DicomLimits` or a ParseLimits)."""
        if isinstance(limits, ParseLimits):
            return limits
        return cls(**{f.name: getattr(limits, f.name) for f in fields(cls)})


Limits = Union[ParseLimits, "DicomLimits"]  # a string member (imported only for type checks) needs Union
"""What the parsing functions take: the configured limits or their plain copy."""

DEFAULT_LIMITS = ParseLimits()

TRUNCATED_KEY = "radlake:truncatedLength"
"""Key added beside ``Value`` in header_json when a text value was cut at ``max_value_bytes``: its full length."""

OMITTED_KEY = "radlake:omittedLength"
"""Key replacing ``Value`` in header_json for a value left out once the instance's values reached
``max_header_bytes``: the value's length in bytes."""

_ESCAPED_IN_JSON = bytes(range(0x20)) + b'"\\'  # bytes JSON writes as an escape (control characters: \u00XX)
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"})

MAX_REASON_CHARS = 240
"""A reject reason is cut to this many characters (it may quote what a hostile file holds)."""

_INFLATE_FIRST = 1 << 20  # bytes inflated before the first parse attempt; grows 8x per attempt up to the cap

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"

_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"})
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL",
     b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)  # fmt: skip
_VR_STR = {vr: vr.decode() for vr in _LONG_VRS | _SHORT_VRS}
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})  # decoded with the character set
_SINGLE_VALUE_VRS = frozenset({"LT", "ST", "UT", "UR"})  # a backslash is text, not a value separator
_NUMBER_CODES = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_NUMBER_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8}

# Top-level attributes the typed columns are made of (tag → key of Header.values).
WANTED: dict[int, str] = {
    0x00080005: "specific_character_set",
    0x00080016: "sop_class_uid",
    0x00080018: "sop_instance_uid",
    0x00080020: "study_date",
    0x00080021: "series_date",
    0x00080022: "acquisition_date",
    0x00080023: "content_date",
    0x0008002A: "acquisition_datetime",
    0x00080030: "study_time",
    0x00080031: "series_time",
    0x00080032: "acquisition_time",
    0x00080033: "content_time",
    0x00080050: "accession_number",
    0x00080060: "modality",
    0x00080070: "manufacturer",
    0x00080080: "institution_name",
    0x00081010: "station_name",
    0x00081030: "study_description",
    0x0008103E: "series_description",
    0x00081090: "manufacturer_model_name",
    0x00100010: "patient_name",
    0x00100020: "patient_id",
    0x00100030: "patient_birth_date",
    0x00100040: "patient_sex",
    0x00180015: "body_part_examined",
    0x00180050: "slice_thickness",
    0x00180060: "kvp",
    0x00181152: "exposure",
    0x00181153: "exposure_in_uas",
    0x0020000D: "study_instance_uid",
    0x0020000E: "series_instance_uid",
    0x00200011: "series_number",
    0x00200013: "instance_number",
    0x00280008: "number_of_frames",
    0x00280010: "rows",
    0x00041200: "dicomdir_offset",  # present only in a DICOMDIR
}

_STRUCTS: dict[str, Struct] = {}


def _struct(fmt: str) -> Struct:
    s = _STRUCTS.get(fmt)
    if s is None:
        s = _STRUCTS[fmt] = Struct(fmt)
    return s


class Reject(Exception):
    """The file is no readable DICOM instance.

    Attributes
    ----------
    code
        A stable reason code (``empty_file``, ``not_dicom``, ``truncated_header`` (a length runs past the end
        of the data), ``truncated_pixel_data``, ``malformed_header``, ``dicomdir``, ``no_sop_instance_uid``,
        ``unreadable``, and the limits: ``inflated_too_large``, ``sequence_too_deep``, ``too_many_elements``).
    detail
        What exactly is wrong, in a few words.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return bounded_reason(f"{self.code}: {self.detail}")


class _NeedMore(Reject):
    """The parse ran past the end of a partly inflated data set: inflate more and parse again."""

    def __init__(self) -> None:
        super().__init__("need_more", "partly inflated")


def bounded_reason(text: str) -> str:
    """A reject reason safe to store and show: control characters replaced, at most :data:`MAX_REASON_CHARS`."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: MAX_REASON_CHARS + 1])
    return clean if len(clean) <= MAX_REASON_CHARS else clean[: MAX_REASON_CHARS - 1] + "…"


@dataclass
class Header:
    """What the parser found in one file's header.

    Attributes
    ----------
    values
        Decoded top-level values of :data:`WANTED` by key, multi-values joined with a backslash.
    json
        The header in the DICOM JSON model, serialised (UTF-8).
    transfer_syntax_uid
        From the file meta (or sniffed: implicit/explicit little endian for a bare data set).
    inferred_charset
        The character set inferred for text whose declared set did not fit (None when none was needed).
    omitted
        Values left out of ``json`` past ``max_header_bytes`` (each marked with :data:`OMITTED_KEY`).
    frames
        One row per item of the Per-frame Functional Groups Sequence (an enhanced multi-frame object), whose
        place in ``json`` a summary takes (:mod:`ingestion.dicom.frames`); None without per-frame groups.
    """

    values: dict[str, str]
    json: bytes
    transfer_syntax_uid: str
    inferred_charset: str | None
    omitted: int = 0
    frames: list[dict[str, Any]] | None = None


def _tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Parser:
    """One pass over one file's bytes (held in memory or memory-mapped)."""

    def __init__(self, buf: Any, file_size: int, charset: CharacterSet, limits: Limits = DEFAULT_LIMITS) -> None:
        self.buf = buf
        self.limits = limits
        self.partial = False  # a deflated data set inflated only in part: running out means "inflate more"
        self.elements = 0
        self.file_size = file_size
        self.inferred: str | None = None
        self.kept = 0  # about how many bytes of JSON the values kept so far take (see _json_cost)
        self.omitted = 0  # values left out of the JSON past ``max_header_bytes``
        self.values: dict[str, str] = {}
        self.root_charset = charset
        self.little = True
        self.explicit = True
        self._implicit_vr_cache: dict[int, str] = {}
        self._private_vr_cache: dict[tuple[str, int, int], str] = {}
        self._pixel_rep = 0

    # --- element headers --------------------------------------------------------------------------------

    def _truncated(self, tag: int, pos: int, need: int) -> Reject:
        if self.partial:
            return _NeedMore()
        return Reject(
            "truncated_header",
            f"element {_tag_str(tag)} at byte {pos} needs {need} bytes, the data ends at byte {len(self.buf)}",
        )

    def implicit_vr(self, tag: int) -> str:
        vr = self._implicit_vr_cache.get(tag)
        if vr is None:
            vr = _dictionary_vr(tag)
            self._implicit_vr_cache[tag] = vr
        if vr == "US or SS":
            return "SS" if self._pixel_rep == 1 else "US"
        return vr

    def private_vr(self, tag: int, creators: dict[int, str]) -> str:
        """VR of a private data element from pydicom's private dictionary, via its block's creator."""
        group, elem = tag >> 16, tag & 0xFFFF
        creator = creators.get(group << 8 | elem >> 8)
        if not creator:
            return "UN"
        key = (creator, group, elem & 0xFF)
        vr = self._private_vr_cache.get(key)
        if vr is None:
            from pydicom.datadict import private_dictionary_VR

            try:
                vr = private_dictionary_VR(tag, creator)
            except KeyError:
                vr = "UN"
            if vr not in _VR_STR.values():
                vr = "UN"  # ambiguous entries ("US or SS") and oddities stay binary
            self._private_vr_cache[key] = vr
        return vr

    # --- data sets ----------------------------------------------------------------------------------------

    def dataset(self, pos: int, end: int, top: bool, depth: int, charset: CharacterSet) -> tuple[dict, int]:  # noqa: C901 - the hot per-element loop of a byte parser: one branch per PS3.5 encoding rule, in one frame for speed
        """Parse elements from ``pos`` until ``end`` or an item delimiter; return the JSON dict and new pos."""
        if depth > self.limits.max_depth:
            raise Reject("sequence_too_deep", f"sequences nested deeper than {self.limits.max_depth} levels")
        buf = self.buf
        out: dict[str, Any] = {}
        little = self.little
        explicit = self.explicit
        # One unpack per element header: tag, then VR and 2-byte length (explicit) or the 4-byte length (implicit).
        head = _struct(("<" if little else ">") + ("HH2sH" if explicit else "HHI"))
        u16 = _struct("<H" if little else ">H")
        u32 = _struct("<I" if little else ">I")
        wanted = WANTED if top else None
        values = self.values
        creators: dict[int, str] = {}
        max_elements = self.limits.max_elements
        cap = self.limits.max_value_bytes
        budget = self.limits.max_header_bytes
        keys = _KEYS
        while pos < end:
            self.elements += 1
            if self.elements > max_elements:
                raise Reject("too_many_elements", f"the header holds more than {max_elements} data elements")
            if pos + 8 > end:
                if top and end == len(buf) and all(b == 0 for b in bytes(buf[pos:end])):
                    break  # trailing zero padding
                raise self._truncated(0, pos, 8)
            if explicit:
                group, elem, vr_b, length = head.unpack_from(buf, pos)
            else:
                group, elem, length = head.unpack_from(buf, pos)
            tag = group << 16 | elem
            if tag == _ITEM_END:
                return out, pos + 8
            if group == 0xFFFE:
                raise Reject("malformed_header", f"unexpected delimiter {_tag_str(tag)} at byte {pos}")
            start = pos
            if explicit:
                if vr_b in _SHORT_VRS:
                    pos += 8
                elif vr_b in _LONG_VRS:
                    if pos + 12 > end:
                        raise self._truncated(tag, pos, 12)
                    length = u32.unpack_from(buf, pos + 8)[0]
                    pos += 12
                elif vr_b.isalpha() and vr_b.isupper():
                    # A VR newer than this parser: PS3.5 7.1.2 gives unknown VRs a 4-byte length.
                    if pos + 12 > end:
                        raise self._truncated(tag, pos, 12)
                    length = u32.unpack_from(buf, pos + 8)[0]
                    pos += 12
                    vr_b = b"UN"
                else:
                    raise Reject("malformed_header", f"element {_tag_str(tag)} at byte {pos} has no valid VR")
                vr = _VR_STR.get(vr_b) or vr_b.decode("ascii", "replace")
            else:
                pos += 8
                vr = self.implicit_vr(tag)
                if vr == "UN" and group & 1 and elem >= 0x1000:
                    vr = self.private_vr(tag, creators)
            if top and tag in _PIXEL_TAGS:
                self._check_pixel_data(tag, start, pos, length)
                self.partial = False  # everything the header needs is here
                return out, end
            if elem == 0 and length != _UNDEFINED:
                # Group lengths are retired and not part of the JSON model's useful content.
                pos += length
                continue
            from_un = False
            if vr == "UN" and length != _UNDEFINED:
                if group & 1 == 0:
                    known = self.implicit_vr(tag)
                elif elem >= 0x1000:
                    known = self.private_vr(tag, creators)
                else:
                    known = "LO" if elem >= 0x0010 else "UN"  # private creators: (gggg,0010-00FF)
                if known != "UN":
                    # PS3.5 6.2.2: a UN value of a known attribute is encoded implicit VR little endian.
                    vr, from_un = known, True
            if length == _UNDEFINED:
                if vr in ("OB", "OW") or (vr == "UN" and group & 1 == 0 and self.implicit_vr(tag) in ("OB", "OW")):
                    size, pos = self._skip_fragments(tag, pos, end)
                    out[_key(tag)] = {"vr": vr, "BulkDataURI": f"{BULK_URI}{size}"}
                    continue
                items, pos = self.sequence(pos, end, True, depth, charset, implicit_content=vr == "UN" or not explicit)
                out[_key(tag)] = {"vr": "SQ", "Value": items}
                continue
            vend = pos + length
            if vend > end:
                raise self._truncated(tag, start, vend - start)
            if vr == "SQ":
                items, _ = self.sequence(pos, vend, False, depth, charset, implicit_content=from_un or not explicit)
                out[_key(tag)] = {"vr": "SQ", "Value": items}
                pos = vend
                continue
            if length > BULK_LIMIT and vr in _BINARY_VRS:
                pos = vend  # never copied: only its length goes into the JSON
                out[_key(tag)] = {"vr": vr, "BulkDataURI": f"{BULK_URI}{length}"}
                continue
            raw = buf[pos:vend] if length <= cap else buf[pos : pos + cap]  # a hostile 64 MiB value: never whole
            pos = vend
            if tag == 0x00080005:
                charset = character_set(_strip(_ascii(raw)))
                if top:
                    self.root_charset = charset
            elif tag == 0x00280103 and top and length == 2:
                self._pixel_rep = u16.unpack_from(raw, 0)[0]
            elif group & 1 and 0x0010 <= elem <= 0x00FF:
                creators[group << 8 | elem] = _ascii(raw).strip(" \x00")
            if vr in _BINARY_VRS or vr in _NUMBER_VRS:
                cost = _json_cost(vr, raw)
            else:  # text, inline (the common case): see _json_cost
                n = len(raw)
                cost = 32 + n + 5 * (n - len(raw.translate(None, _ESCAPED_IN_JSON)))
            if self.kept + cost <= budget or (wanted is not None and tag in wanted):
                value = self.element(tag, vr, raw, charset, wanted, values)
                self.kept += cost
                if length > cap:
                    value[TRUNCATED_KEY] = length
            else:
                # The instance's budget is spent: what is decoded and kept, not the wire size, bounds memory.
                value = {"vr": vr, OMITTED_KEY: length}
                self.omitted += 1
            out[keys.get(tag) or _key(tag)] = value
        if top and self.partial:
            raise _NeedMore()  # the inflated part ended between elements: there may be more header
        return out, pos

    def sequence(
        self, pos: int, end: int, undefined: bool, depth: int, charset: CharacterSet, implicit_content: bool
    ) -> tuple[list, int]:
        buf = self.buf
        tag_fmt = _struct("<HH" if self.little else ">HH")
        u32 = _struct("<I" if self.little else ">I")
        items: list[dict] = []
        saved = self.explicit, self.little
        while pos < end:
            if pos + 8 > end:
                raise self._truncated(0, pos, 8)
            group, elem = tag_fmt.unpack_from(buf, pos)
            tag = group << 16 | elem
            length = u32.unpack_from(buf, pos + 4)[0]
            pos += 8
            if tag == _SEQ_END:
                return items, pos
            if tag != _ITEM:
                raise Reject("malformed_header", f"expected a sequence item at byte {pos - 8}, found {_tag_str(tag)}")
            self.elements += 1  # items count like elements: a million empty items is no header
            if self.elements > self.limits.max_elements:
                raise Reject(
                    "too_many_elements", f"the header holds more than {self.limits.max_elements} data elements"
                )
            if implicit_content and self.explicit:
                # UN sequences (and undefined-length implicit ones) hold implicit VR little endian items.
                self.explicit, self.little = False, True
            try:
                if length == _UNDEFINED:
                    item, pos = self.dataset(pos, end, False, depth + 1, charset)
                else:
                    if pos + length > end:
                        raise self._truncated(tag, pos - 8, length + 8)
                    item, _ = self.dataset(pos, pos + length, False, depth + 1, charset)
                    pos += length
            finally:
                self.explicit, self.little = saved
            items.append(item)
        if undefined:
            raise self._truncated(_SEQ_END, pos, 8)
        return items, pos

    def _skip_fragments(self, tag: int, pos: int, end: int) -> tuple[int, int]:
        """Skip an encapsulated (undefined-length) value; return its size and the position after it."""
        tag_fmt = _struct("<HH" if self.little else ">HH")
        u32 = _struct("<I" if self.little else ">I")
        size = 0
        while True:
            if pos + 8 > end:
                raise self._truncated(tag, pos, 8)
            group, elem = tag_fmt.unpack_from(self.buf, pos)
            length = u32.unpack_from(self.buf, pos + 4)[0]
            pos += 8
            t = group << 16 | elem
            if t == _SEQ_END:
                return size, pos
            if t != _ITEM or length == _UNDEFINED:
                raise Reject("malformed_header", f"bad fragment in {_tag_str(tag)} at byte {pos - 8}")
            pos += length
            size += length
            if pos > end:
                raise self._truncated(tag, pos - length - 8, length + 8)

    def _check_pixel_data(self, tag: int, start: int, pos: int, length: int) -> None:
        """Reject a file whose pixel data is cut short (a partial copy), without reading the pixels."""
        if self.file_size < 0:
            return  # deflated: positions are in the inflated stream
        if length == _UNDEFINED:
            try:
                self._skip_fragments(tag, pos, len(self.buf))
            except Reject as exc:
                raise Reject("truncated_pixel_data", f"encapsulated pixel data is cut short ({exc.detail})") from None
        elif pos + length > self.file_size:
            raise Reject(
                "truncated_pixel_data",
                f"pixel data declares {length} bytes at byte {pos}, the file ends at byte {self.file_size}",
            )

    # --- values -------------------------------------------------------------------------------------------

    def element(
        self, tag: int, vr: str, raw: Any, charset: CharacterSet, wanted: dict | None, values: dict
    ) -> dict[str, Any]:
        if not raw:
            return {"vr": vr}
        if vr in _BINARY_VRS:
            if len(raw) > BULK_LIMIT:
                return {"vr": vr, "BulkDataURI": f"{BULK_URI}{len(raw)}"}
            return {"vr": vr, "InlineBinary": base64.b64encode(raw).decode("ascii")}
        code = _NUMBER_CODES.get(vr)
        if code is not None:
            n = len(raw) // _NUMBER_SIZES[vr]
            nums = list(_struct(("<" if self.little else ">") + f"{n}{code}").unpack_from(raw, 0)) if n else []
            if vr in ("FL", "FD"):
                nums = [None if x != x or x in (float("inf"), float("-inf")) else x for x in nums]
            if wanted is not None and tag in wanted:
                values[wanted[tag]] = "\\".join(str(x) for x in nums)
            return {"vr": vr, "Value": nums} if nums else {"vr": vr}
        if vr == "AT":
            n = len(raw) // 4
            pairs = _struct(("<" if self.little else ">") + f"{2 * n}H").unpack_from(raw, 0)
            return {"vr": vr, "Value": [f"{pairs[i]:04X}{pairs[i + 1]:04X}" for i in range(0, 2 * n, 2)]}
        raw = bytes(raw)
        if vr in _TEXT_VRS:
            text, inferred = decode_text(raw, charset)
            if inferred is not None and self.inferred is None:
                self.inferred = inferred
        else:
            text = raw.decode("latin_1")
        if vr in _SINGLE_VALUE_VRS:
            text = text.rstrip(" \x00")
            if wanted is not None and tag in wanted:
                values[wanted[tag]] = text
            return {"vr": vr, "Value": [text]} if text else {"vr": vr}
        text = text.rstrip(" \x00") if vr == "PN" else text.strip(" \x00")
        if wanted is not None and tag in wanted:
            values[wanted[tag]] = text
        if not text:
            return {"vr": vr}
        parts = text.split("\\") if "\\" in text else [text]
        if vr == "PN":
            return {"vr": vr, "Value": [_person_name(p.strip(" ")) for p in parts]}
        if vr == "DS" or vr == "IS":
            return {"vr": vr, "Value": [_number(p, vr) for p in parts]}
        if len(parts) > 1:
            return {"vr": vr, "Value": [p.strip(" \x00") or None for p in parts]}
        return {"vr": vr, "Value": parts}


def _json_cost(vr: str, raw: Any) -> int:
    """About how many bytes a value takes in the DICOM JSON model (an upper bound for ASCII text)."""
    n = len(raw)
    if vr in _BINARY_VRS:
        return 64 if n > BULK_LIMIT else 32 + n * 4 // 3
    if vr in _NUMBER_VRS:
        return 32 + 3 * n  # "65535," for 2 bytes; a double's 8 bytes as up to 24 characters
    escaped = n - len(raw.translate(None, _ESCAPED_IN_JSON))
    return 32 + n + 5 * escaped


_KEYS: dict[int, str] = {}


def _key(tag: int) -> str:
    k = _KEYS.get(tag)
    if k is None:
        k = f"{tag:08X}"
        if len(_KEYS) < 100_000:
            _KEYS[tag] = k
    return k


def _ascii(raw: Any) -> str:
    return bytes(raw).decode("latin_1")


def _strip(text: str) -> str:
    return text.strip(" \x00")


def _person_name(value: str) -> dict[str, str] | None:
    if not value:
        return None
    groups = value.split("=")
    out = {}
    for name, group in zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False):
        if group:
            out[name] = group
    return out or None


def _number(text: str, vr: str) -> int | float | str | None:
    """An IS/DS value as a JSON number; a value that is no number (or out of range) is kept as text."""
    text = text.strip(" \x00")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text  # keep what the file says rather than drop it
    if not math.isfinite(value):
        return text
    if vr == "DS" or not value.is_integer():
        return value  # (an IS written as "2.5" keeps its number)
    whole = int(text) if text.lstrip("+-").isdigit() else int(value)
    return whole if -(2**63) <= whole < 2**63 else text


def _dictionary_vr(tag: int) -> str:
    group, elem = tag >> 16, tag & 0xFFFF
    if group & 1:
        return "LO" if 0x0010 <= elem <= 0x00FF else "UN"
    if elem == 0:
        return "UL"
    from pydicom.datadict import DicomDictionary, get_entry

    entry = DicomDictionary.get(tag)
    if entry is None:
        try:
            entry = get_entry(tag)  # repeating groups such as overlays (60xx)
        except KeyError:
            return "UN"
    vr = entry[0]
    if vr in ("OB or OW", "US or OW", "US or SS or OW"):
        return "OW" if vr == "OB or OW" else "US"
    return vr


# --- files ----------------------------------------------------------------------------------------------


def _read_meta(buf: Any, pos: int) -> tuple[dict[int, str], int]:
    """File meta group (0002), always explicit VR little endian; returns values by tag and the end."""
    u16 = _struct("<H")
    u32 = _struct("<I")
    tags = _struct("<HH")
    meta: dict[int, str] = {}
    size = len(buf)
    meta_end: int | None = None
    while pos + 8 <= size:
        group, elem = tags.unpack_from(buf, pos)
        if group != 0x0002:
            break
        vr = bytes(buf[pos + 4 : pos + 6])
        if vr in _LONG_VRS:
            if pos + 12 > size:
                break
            length = u32.unpack_from(buf, pos + 8)[0]
            vpos = pos + 12
        else:
            length = u16.unpack_from(buf, pos + 6)[0]
            vpos = pos + 8
        if vpos + length > size:
            raise Reject("truncated_header", f"file meta element (0002,{elem:04X}) runs past the end of the file")
        value = buf[vpos : vpos + length]
        if elem == 0 and length == 4:
            meta_end = vpos + length + u32.unpack_from(value, 0)[0]
        elif vr in (b"UI", b"AE", b"SH", b"CS"):
            meta[0x00020000 | elem] = bytes(value).decode("latin_1").strip(" \x00")
        pos = vpos + length
        if meta_end is not None and pos >= meta_end:
            break
    return meta, pos


def _sniff_syntax(buf: Any, pos: int, syntax: str) -> tuple[bool, bool]:
    """(little, explicit) of a data set: from the transfer syntax, checked against the first element.

    Writers that declare explicit VR but write implicit (and the reverse) exist; the bytes win, as in pydicom.
    """
    head = bytes(buf[pos : pos + 8])
    if len(head) < 8:
        return syntax != EXPLICIT_BE, syntax != IMPLICIT_LE
    vr = head[4:6]
    explicit = vr in _LONG_VRS or vr in _SHORT_VRS
    if syntax:
        return syntax != EXPLICIT_BE, explicit
    group_le = head[0] | head[1] << 8
    group_be = head[0] << 8 | head[1]
    if group_le in FIRST_GROUPS:
        return True, explicit
    if group_be in FIRST_GROUPS:
        return False, explicit
    return group_le <= group_be, explicit


def dataset_json(buf: Any, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The DICOM JSON model of any data set file, instance or not (no checks on what it holds).

    Raises
    ------
    Reject
        The bytes are no readable DICOM data set.
    """
    return _parse(buf, None, limits)[0]


def _parse(
    buf: Any, file_size: int | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[dict[str, Any], _Parser, str, dict[int, str]]:
    """Parse the file meta and the data set up to pixel data: (JSON dict, parser, transfer syntax, meta)."""
    size = len(buf) if file_size is None else file_size
    if size == 0:
        raise Reject("empty_file", "the file has 0 bytes")
    head = bytes(buf[:4096])
    meta: dict[int, str] = {}
    if has_dicom_prefix(head):
        meta, pos = _read_meta(buf, 132)
    elif looks_like_raw_dataset(head):
        pos = 0
        if head[0:2] == b"\x02\x00":
            meta, pos = _read_meta(buf, 0)
    elif head.startswith(b"DICM"):
        meta, pos = _read_meta(buf, 4)  # preamble missing but prefix present
    else:
        if len(head) < 132 and head[:128].strip(b"\x00") == b"" and len(head) >= 128:
            raise Reject("truncated_header", "the file ends inside the 128-byte preamble")
        raise Reject("not_dicom", describe_non_dicom(head))
    if meta.get(0x00020002) == DICOMDIR_SOP_CLASS:
        raise Reject("dicomdir", "a DICOMDIR (Media Storage Directory), not an instance")
    if pos >= len(buf):
        raise Reject("truncated_header", f"the file ends after the file meta information at byte {pos}")
    syntax = meta.get(0x00020010, "")
    little, explicit = _sniff_syntax(buf, pos, syntax)
    if syntax == DEFLATED_LE:
        return _parse_deflated(buf, pos, syntax, meta, limits)
    if not syntax:
        syntax = (EXPLICIT_LE if explicit else IMPLICIT_LE) if little else EXPLICIT_BE
    parser = _Parser(buf, size, character_set(""), limits)
    parser.little, parser.explicit = little, explicit
    return _parse_dataset(parser, pos), parser, syntax, meta


def _parse_dataset(parser: _Parser, pos: int) -> dict[str, Any]:
    try:
        dataset, _ = parser.dataset(pos, len(parser.buf), True, 0, character_set(""))
    except (IndexError, ValueError, OverflowError, struct.error) as exc:  # garbage where lengths should be
        if parser.partial:
            raise _NeedMore() from None
        raise Reject("malformed_header", f"unreadable data set ({type(exc).__name__}: {exc})") from None
    except RecursionError:
        raise Reject("sequence_too_deep", "sequences nested too deep to parse") from None
    return dataset


class _Inflater:
    """Inflates a deflated data set (PS3.5 A.5) on demand, never past ``cap`` bytes of output."""

    def __init__(self, buf: Any, pos: int, cap: int) -> None:
        self._src = buf  # sliced a step at a time: a memory map is never copied whole
        self._in = pos
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._tail = b""
        self.cap = cap
        self.out = bytearray()
        self.done = False  # the deflate stream (or its input) ended

    def grow(self, target: int) -> None:
        """Inflate until ``target`` bytes (at most ``cap + 1``) are out or the stream ends."""
        target = min(target, self.cap + 1)
        step = 1 << 20
        try:
            while len(self.out) < target and not self.done:
                if self._tail:
                    chunk, self._tail = self._tail, b""
                elif self._in < len(self._src):
                    chunk = bytes(self._src[self._in : self._in + step])
                    self._in += len(chunk)
                else:
                    self.out += self._z.flush()
                    self.done = True
                    break
                self.out += self._z.decompress(chunk, target - len(self.out))
                self._tail = self._z.unconsumed_tail
                if self._z.eof:
                    self.done = True
        except zlib.error as exc:
            raise Reject("malformed_header", f"deflated data set does not inflate: {exc}") from None
        if len(self.out) > self.cap:
            del self.out[self.cap :]  # never hold more than the cap


def _parse_deflated(
    buf: Any, pos: int, syntax: str, meta: dict[int, str], limits: Limits
) -> tuple[dict[str, Any], _Parser, str, dict[int, str]]:
    """Inflate step by step (1 MiB, then 8x more each time, up to the cap) until the header parses."""
    inflater = _Inflater(buf, pos, limits.max_inflated_bytes)
    want = _INFLATE_FIRST
    while True:
        inflater.grow(want)
        data = inflater.out  # parsed in place (slices copy only what they take)
        capped = len(data) >= limits.max_inflated_bytes and not inflater.done
        little, explicit = _sniff_syntax(data, 0, EXPLICIT_LE)
        parser = _Parser(data, -1, character_set(""), limits)
        parser.little, parser.explicit = little, explicit
        parser.partial = not inflater.done
        try:
            return _parse_dataset(parser, 0), parser, syntax, meta
        except _NeedMore:
            if capped:
                raise Reject(
                    "inflated_too_large",
                    f"the deflated data set inflates past {limits.max_inflated_bytes} bytes before its header ends",
                ) from None
            want *= 8


def parse_header(buf: Any, file_size: int | None = None, limits: Limits = DEFAULT_LIMITS) -> Header:
    """Parse a DICOM file's header from its bytes.

    Parameters
    ----------
    buf
        The file's bytes (``bytes`` or a memory map); only the header part is touched, plus the headers of
        encapsulated pixel fragments for the truncation check.
    file_size
        The file's size (defaults to ``len(buf)``).
    limits
        What the file may make the parser hold (see the module docstring).

    Returns
    -------
    Header
        Typed values, the DICOM JSON model and the transfer syntax.

    Raises
    ------
    Reject
        The file is not a readable DICOM instance (empty, not DICOM, truncated, DICOMDIR, no SOP Instance UID)
        or passes one of the limits.
    """
    dataset, parser, syntax, _ = _parse(buf, file_size, limits)
    values = parser.values
    if "dicomdir_offset" in values or "00041220" in dataset:
        raise Reject("dicomdir", "a DICOMDIR (directory records), not an instance")
    if not values.get("sop_instance_uid"):
        if "00080018" in dataset:
            raise Reject("no_sop_instance_uid", "SOP Instance UID (0008,0018) is empty")
        raise Reject("no_sop_instance_uid", "SOP Instance UID (0008,0018) is missing")
    values.setdefault("specific_character_set", "")
    frames = summarise_per_frame(dataset, parse_dt)
    try:
        json_bytes = orjson.dumps(dataset)
    except TypeError as exc:
        raise Reject("malformed_header", f"header cannot be written as JSON ({exc})") from None
    return Header(values, json_bytes, syntax, parser.inferred, parser.omitted, frames)


# --- typed columns ------------------------------------------------------------------------------------


def parse_da(text: str | None) -> dt.date | None:
    """A DICOM DA value (YYYYMMDD, or the old YYYY.MM.DD) as a date; None when it is no valid date."""
    if not text:
        return None
    t = text.strip()
    if len(t) == 10 and t[4] == "." and t[7] == ".":
        t = t[:4] + t[5:7] + t[8:]
    if len(t) != 8 or not t.isdigit():
        return None
    try:
        return dt.date(int(t[:4]), int(t[4:6]), int(t[6:8]))
    except ValueError:
        return None


def parse_tm(text: str | None) -> dt.time | None:
    """A DICOM TM value (HH[MM[SS[.F{1,6}]]], or the old HH:MM:SS) as a time; None when invalid."""
    if not text:
        return None
    t = text.strip().replace(":", "")
    whole, _, frac = t.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6) or (frac and not frac.isdigit()):
        return None
    try:
        return dt.time(
            int(whole[:2]),
            int(whole[2:4] or 0),
            min(int(whole[4:6] or 0), 59),  # leap second 60 → 59
            int((frac + "000000")[:6]) if frac else 0,
        )
    except ValueError:
        return None


def parse_dt(text: str | None) -> dt.datetime | None:
    """A DICOM DT value as a local (naive) datetime; the UTC offset suffix, if any, is dropped."""
    if not text:
        return None
    t = text.strip()
    for sign in ("+", "-"):
        i = t.find(sign, 4)
        if i > 0:
            t = t[:i]
    date = parse_da(t[:8])
    if date is None:
        return None
    rest = t[8:]
    time = parse_tm(rest) if rest else dt.time()
    return None if time is None else dt.datetime.combine(date, time)


def to_float(text: str | None) -> float | None:
    """First value of a DS/IS/number string as float, None when empty or not a number."""
    if not text:
        return None
    first = text.split("\\", 1)[0].strip()
    try:
        value = float(first)
    except ValueError:
        return None
    return None if value != value or value in (float("inf"), float("-inf")) else value


def to_int(text: str | None) -> int | None:
    """First value of an IS string as int, None when empty or not an integer."""
    value = to_float(text)
    if value is None or not value.is_integer() or abs(value) >= 2**31:
        return None
    return int(value)


def acquisition_datetime(values: dict[str, str]) -> dt.datetime | None:
    """When the instance was acquired (local time of the modality).

    AcquisitionDateTime, else AcquisitionDate + AcquisitionTime, else ContentDate + ContentTime, else
    SeriesDate + SeriesTime.
    """
    found = parse_dt(values.get("acquisition_datetime"))
    if found is not None:
        return found
    for date_key, time_key in (
        ("acquisition_date", "acquisition_time"),
        ("content_date", "content_time"),
        ("series_date", "series_time"),
    ):
        date = parse_da(values.get(date_key))
        if date is not None:
            time = parse_tm(values.get(time_key)) or dt.time()
            return dt.datetime.combine(date, time)
    return None
