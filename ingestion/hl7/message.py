"""One HL7 v2 message: its bytes decoded (MSH-18, the config, or detected GB18030), segments, fields, escapes.

A message is hostile until parsed: :func:`parse_message` raises :class:`Hl7Reject` with the acknowledgement
code the sender gets (``AR`` when the message cannot be taken at all, ``AE`` when its content is wrong) and a
reason that never repeats patient data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingestion.dicom import GB18030_TERM, UTF8_TERM, character_set, decode_text

# HL7 table 0211 (MSH-18) → Python codecs. Values seen in Chinese feeds are added (GBK, GB2312 labels).
_CHARSETS = {
    "": None,
    "ASCII": "ascii",
    "8859/1": "latin_1",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GBK": "gb18030",
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
}
_DICOM_TERM = {"utf-8": "ISO_IR 192", "gb18030": "GB18030"}
_ESCAPE = re.compile(r"\\(F|S|T|R|E|H|N|X[0-9A-Fa-f]*|\.br|Z[^\\]*)\\")


@dataclass(frozen=True)
class Hl7Reject(Exception):
    """A message radlake will not store: the ACK code (``AR`` or ``AE``) and a one-line reason."""

    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


@dataclass(frozen=True)
class Delimiters:
    """The message's encoding characters (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


@dataclass
class Message:
    """A decoded HL7 v2 message.

    Attributes
    ----------
    text
        The whole message as Unicode, segments separated by ``\\r``.
    encoding
        The codec it was decoded with; ``encoding_inferred`` when neither MSH-18 nor the default fitted.
    segments
        Each segment's fields, split by the field separator (``segments[i][0]`` is the segment id); in MSH the
        field separator itself is field 1, as in the standard's numbering.
    """

    text: str
    encoding: str
    encoding_inferred: bool
    delimiters: Delimiters
    segments: list[list[str]] = field(default_factory=list)

    def segment(self, seg_id: str) -> list[str] | None:
        """The first segment with this id, or None."""
        return next((s for s in self.segments if s[0] == seg_id), None)

    def all(self, seg_id: str) -> list[list[str]]:
        """Every segment with this id, in order."""
        return [s for s in self.segments if s[0] == seg_id]

    def value(self, seg: list[str] | None, index: int, component: int = 1, repetition: int = 0) -> str | None:
        """Field ``index`` of a segment: one repetition's component, escapes decoded; None when empty."""
        if seg is None or index >= len(seg):
            return None
        reps = seg[index].split(self.delimiters.repetition) if not (seg[0] == "MSH" and index == 2) else [seg[index]]
        if repetition >= len(reps):
            return None
        comps = reps[repetition].split(self.delimiters.component)
        if component > len(comps):
            return None
        raw = comps[component - 1].split(self.delimiters.subcomponent)[0]
        text = self.unescape(raw).strip()
        return text or None

    def repetitions(self, seg: list[str] | None, index: int) -> int:
        """How many repetitions field ``index`` has (0 when empty)."""
        if seg is None or index >= len(seg) or not seg[index]:
            return 0
        return len(seg[index].split(self.delimiters.repetition))

    def get(self, seg_id: str, index: int, component: int = 1, repetition: int = 0) -> str | None:
        """:meth:`value` of the first segment ``seg_id``."""
        return self.value(self.segment(seg_id), index, component, repetition)

    def unescape(self, raw: str) -> str:
        """Decode HL7 escape sequences: delimiters, ``\\.br\\`` (a line break) and ``\\Xhh..\\`` (bytes in the
        message's character set); highlighting and local ``\\Z..\\`` escapes are dropped."""
        esc = self.delimiters.escape
        if esc not in raw:
            return raw
        if esc != "\\":
            raw = raw.replace(esc, "\\")
        d = self.delimiters
        plain = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}

        def one(m: re.Match[str]) -> str:
            code = m.group(1)
            if code in plain:
                return plain[code]
            if code == ".br":
                return "\n"
            if code.startswith("X"):
                try:
                    return bytes.fromhex(code[1:]).decode(self.encoding, errors="replace")
                except ValueError:
                    return ""
            return ""  # \H\ \N\ highlighting, \Z..\ local escapes

        return _ESCAPE.sub(one, raw)

    @property
    def sending_facility(self) -> str | None:
        return self.get("MSH", 4)

    @property
    def control_id(self) -> str | None:
        return self.get("MSH", 10)

    @property
    def message_type(self) -> str:
        """MSH-9 as ``CODE^EVENT`` (``ORM^O01``), upper-case."""
        code = (self.get("MSH", 9, 1) or "").upper()
        event = (self.get("MSH", 9, 2) or "").upper()
        return f"{code}^{event}" if event else code


def _declared(raw: bytes) -> str:
    """MSH-18 read from the raw bytes (the MSH fields before it are ASCII in every feed seen)."""
    first = re.split(rb"[\r\n]", raw, maxsplit=1)[0]
    if len(first) < 4:
        return ""
    sep = first[3:4]
    fields = first.split(sep)
    if len(fields) <= 17:
        return ""
    rep = fields[1][1:2] if len(fields[1]) > 1 else b"~"
    return fields[17].split(rep)[0].decode("latin_1").strip().upper()


def decode_bytes(raw: bytes, default: str) -> tuple[str, str, bool]:
    """The message's text, the codec used, and whether it was detected rather than declared.

    MSH-18 wins when it names a character set; else ``default`` (the config's). Bytes that do not fit it are
    decoded as UTF-8 or GB18030 when they read as such (the DICOM ingest's detection), so an unlabelled GBK
    feed under a UTF-8 default still lands as Chinese text.

    Raises
    ------
    Hl7Reject
        ``AR`` when MSH-18 names a character set radlake does not know.
    """
    label = _declared(raw)
    if label not in _CHARSETS:
        raise Hl7Reject("AR", f"MSH-18 names an unknown character set {label[:20]!r}")
    codec = _CHARSETS[label] or default
    if raw.isascii():
        return raw.decode("ascii"), codec, False
    term = _DICOM_TERM.get(codec)
    if term is None:
        try:
            return raw.decode(codec), codec, False
        except UnicodeDecodeError:
            term = "ISO_IR 192"
    text, inferred = decode_text(raw, character_set(term))
    if inferred == GB18030_TERM:
        return text, "gb18030", True
    if inferred == UTF8_TERM:
        return text, "utf-8", True
    used = codec if codec in _DICOM_TERM else "utf-8"
    return text, used, used != codec


def parse_message(raw: bytes, default_encoding: str = "utf-8") -> Message:
    """Decode and split one message (the bytes inside an MLLP frame).

    Raises
    ------
    Hl7Reject
        ``AR``: no MSH segment, bad encoding characters, no control id or message type, or text that does not
        decode.
    """
    if not raw.startswith(b"MSH") or len(raw) < 8:
        raise Hl7Reject("AR", "the message does not start with an MSH segment")
    text, codec, inferred = decode_bytes(raw, default_encoding)
    if "\ufffd" in text and "\ufffd".encode(codec) not in raw:
        raise Hl7Reject("AR", f"bytes that are not {codec} text (nor UTF-8 or GB18030)")
    return parse_text(text, codec, inferred)


def parse_text(text: str, codec: str = "utf-8", inferred: bool = False) -> Message:
    """Split a decoded message (what bronze stores) into segments and fields.

    Raises
    ------
    Hl7Reject
        ``AR``: bad encoding characters, no control id or message type.
    """
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Reject("AR", "the message does not start with an MSH segment")
    sep = text[3]
    enc = text[4:8].split(sep)[0]
    if len(enc) < 4 or sep.isalnum() or len(set(sep + enc[:4])) != 5:
        raise Hl7Reject("AR", "MSH-2 does not hold four distinct encoding characters")
    delims = Delimiters(sep, enc[0], enc[1], enc[2], enc[3])
    lines = [s for s in re.split(r"\r\n|\r|\n", text) if s.strip()]
    segments = []
    for line in lines:
        parts = line.split(sep)
        if line.startswith("MSH"):
            parts = ["MSH", sep, *parts[1:]]  # MSH-1 is the separator itself: keep the standard's numbering
        segments.append(parts)
    msg = Message(
        text="\r".join(lines), encoding=codec, encoding_inferred=inferred, delimiters=delims, segments=segments
    )
    if not msg.control_id:
        raise Hl7Reject("AR", "MSH-10 (message control id) is empty")
    if len(msg.control_id) > 199:
        raise Hl7Reject("AR", "MSH-10 (message control id) is longer than 199 characters")
    if not msg.message_type:
        raise Hl7Reject("AR", "MSH-9 (message type) is empty")
    return msg
