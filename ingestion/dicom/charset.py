"""DICOM text decoding: Specific Character Set, ISO 2022 code extensions, and Chinese bytes under a wrong one.

Chinese PACS often write GB18030 or UTF-8 bytes while declaring no Specific Character Set (0008,0005), or
ISO_IR 100 (Latin-1), or ISO_IR 192 for GB bytes. Decoding such values with the declared character set gives
mojibake. :func:`decode_text` decodes with the declared set when the bytes fit it, and otherwise detects
UTF-8 or GB18030 and reports which one it inferred, so the ingest can record ``charset_inferred``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# DICOM defined terms → Python codecs (PS3.3 C.12.1.1.2). Misspellings seen in the field are added below.
_SINGLE_BYTE = {
    "": "ascii",
    "ISO_IR 6": "ascii",
    "ISO_IR 13": "shift_jis",
    "ISO_IR 100": "latin_1",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3",
    "ISO_IR 110": "iso8859_4",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 127": "iso8859_6",
    "ISO_IR 138": "iso8859_8",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 148": "iso8859_9",
    "ISO_IR 166": "tis_620",
    "ISO_IR 203": "iso8859_15",
    "ISO_IR 192": "utf_8",
    "GB18030": "gb18030",
    "GBK": "gbk",
}

# Code extension terms (ISO 2022): what each designates into G0 / G1 when it is the first value.
_ISO2022_G1 = {
    "ISO 2022 IR 6": None,
    "ISO 2022 IR 13": "shift_jis",
    "ISO 2022 IR 100": "latin_1",
    "ISO 2022 IR 101": "iso8859_2",
    "ISO 2022 IR 109": "iso8859_3",
    "ISO 2022 IR 110": "iso8859_4",
    "ISO 2022 IR 126": "iso8859_7",
    "ISO 2022 IR 127": "iso8859_6",
    "ISO 2022 IR 138": "iso8859_8",
    "ISO 2022 IR 144": "iso8859_5",
    "ISO 2022 IR 148": "iso8859_9",
    "ISO 2022 IR 166": "tis_620",
    "ISO 2022 IR 203": "iso8859_15",
    "ISO 2022 IR 58": "gb2312",
    "ISO 2022 IR 149": "euc_kr",
    "ISO 2022 IR 87": None,
    "ISO 2022 IR 159": None,
    # CP 1234 spellings some Chinese writers use
    "ISO 2022 GBK": "gbk",
    "ISO 2022 58": "gb2312",
}

# Escape sequences (PS3.3 tables C.12-3 and C.12-4): sequence → (graphic set, codec).
# G1 sets are used with their high bit set (EUC form), so the codec decodes the bytes after the sequence.
# G0 JIS X 0208 / 0212 are 7-bit and Python's iso2022_jp codecs decode them with the sequence in place.
_ESCAPES: dict[bytes, tuple[str, str | None]] = {
    b"\x1b(B": ("G0", None),
    b"\x1b(J": ("G0", None),
    b"\x1b$B": ("G0", "iso2022_jp"),
    b"\x1b$@": ("G0", "iso2022_jp"),
    b"\x1b$(D": ("G0", "iso2022_jp_2"),
    b"\x1b)I": ("G1", "shift_jis"),
    b"\x1b-A": ("G1", "latin_1"),
    b"\x1b-B": ("G1", "iso8859_2"),
    b"\x1b-C": ("G1", "iso8859_3"),
    b"\x1b-D": ("G1", "iso8859_4"),
    b"\x1b-F": ("G1", "iso8859_7"),
    b"\x1b-G": ("G1", "iso8859_6"),
    b"\x1b-H": ("G1", "iso8859_8"),
    b"\x1b-L": ("G1", "iso8859_5"),
    b"\x1b-M": ("G1", "iso8859_9"),
    b"\x1b-T": ("G1", "tis_620"),
    b"\x1b-b": ("G1", "iso8859_15"),
    b"\x1b$)A": ("G1", "gb2312"),
    b"\x1b$)C": ("G1", "euc_kr"),
}
_ESCAPE_RE = re.compile(rb"\x1b(?:\$[()][\x40-\x7e]|[$()\-][\x40-\x7e])")

# Declared sets under which Chinese PACS put Chinese bytes: nothing, ASCII, Latin-1. Other single-byte sets
# (Cyrillic, Greek, ...) are trusted: their letters also form valid GB2312 pairs and would be misread.
_GUESS_UNDER = frozenset({"ascii", "latin_1", "iso8859_15"})

UTF8_TERM = "ISO_IR 192"
GB18030_TERM = "GB18030"


@dataclass(frozen=True)
class CharacterSet:
    """How to decode the text of one data set, from its Specific Character Set (0008,0005).

    Attributes
    ----------
    declared
        The value as written in the file, values joined with a backslash ('' when absent).
    codec
        The Python codec for a set without code extensions, None with ISO 2022 code extensions.
    g1
        For ISO 2022: the G1 codec designated by the first value (None for ASCII only).
    unknown
        Whether a value is no term this module knows: the declared set is then not trusted over the bytes
        (UTF-8 or GB18030 text is detected before the known part of the declaration is used).
    """

    declared: str
    codec: str | None
    g1: str | None = None
    unknown: bool = False

    @property
    def iso2022(self) -> bool:
        return self.codec is None


@lru_cache(maxsize=256)
def character_set(declared: str) -> CharacterSet:
    """The decoding rules for a Specific Character Set value (e.g. ``'GB18030'``, ``'\\\\ISO 2022 IR 58'``).

    Parameters
    ----------
    declared
        The raw value of (0008,0005), several values separated by backslashes; '' when absent.

    Returns
    -------
    CharacterSet
        Unknown terms fall back to ASCII, which makes any non-ASCII byte go through charset inference.
    """
    values = [_normalise_term(v) for v in declared.split("\\")]
    first = values[0]
    unknown = any(v not in _SINGLE_BYTE and v not in _ISO2022_G1 for v in values)
    if first in ("ISO_IR 192", "GB18030", "GBK") or (len(values) == 1 and first not in _ISO2022_G1):
        # Stand-alone sets ignore further values (PS3.3 C.12.1.1.2).
        return CharacterSet(declared, _SINGLE_BYTE.get(first, "ascii"), unknown=unknown)
    if first in _ISO2022_G1:
        g1 = _ISO2022_G1[first]
    elif first in _SINGLE_BYTE:
        g1 = None if _SINGLE_BYTE[first] == "ascii" else _SINGLE_BYTE[first]
    else:
        g1 = None
    return CharacterSet(declared, None, g1, unknown)


def _normalise_term(term: str) -> str:
    term = term.strip().upper()
    term = re.sub(r"^ISO[ _-]?IR[ _-]?(\d+)$", r"ISO_IR \1", term)
    term = re.sub(r"^ISO[ _-]?2022[ _-]?IR[ _-]?(\d+)$", r"ISO 2022 IR \1", term)
    if term in ("UTF-8", "UTF8"):
        return "ISO_IR 192"
    if term in ("GB2312", "EUC-CN"):
        return "ISO 2022 IR 58"
    return term


def decode_text(raw: bytes, charset: CharacterSet) -> tuple[str, str | None]:
    """Decode a text value (SH, LO, ST, LT, UT, UC, PN) to Unicode.

    Parameters
    ----------
    raw
        The value bytes, padding included.
    charset
        The data set's character set (see :func:`character_set`).

    Returns
    -------
    tuple of (str, str or None)
        The text, and the DICOM term of the character set that was inferred from the bytes because the
        declared one does not fit them (None when the declared set was used).
    """
    if raw.isascii() and b"\x1b" not in raw:
        return raw.decode("ascii"), None
    if charset.unknown and b"\x1b" not in raw:
        # A declaration with a term nobody defined says little: Latin-1 (or any 8-bit set) would read
        # UTF-8 bytes as mojibake without complaint, so the self-validating encodings are tried first.
        guessed = _guess_chinese(raw)
        if guessed is not None:
            return guessed
    codec = charset.codec
    if codec is None:
        try:
            return _decode_iso2022(raw, charset.g1), None
        except (UnicodeDecodeError, LookupError):
            guessed = _guess_chinese(raw)
            if guessed is not None:
                return guessed
            return _decode_iso2022(raw, charset.g1, errors="replace"), None
    if codec in ("gb18030", "gbk"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            text = None
        if text is not None and _plausible_gb(text):
            return text, None
        # GB bytes decode almost anything; UTF-8 is self-validating, so valid UTF-8 that does not read as
        # plausible GB text was written as UTF-8 under a GB declaration.
        try:
            return raw.decode("utf_8"), UTF8_TERM
        except UnicodeDecodeError:
            pass
        return (text if text is not None else raw.decode(codec, errors="replace")), None
    if codec == "utf_8":
        try:
            return raw.decode("utf_8"), None
        except UnicodeDecodeError:
            text = _try_gb(raw)
            if text is not None:
                return text, GB18030_TERM
            return raw.decode("utf_8", errors="replace"), None
    if codec in _GUESS_UNDER:
        guessed = _guess_chinese(raw)
        if guessed is not None:
            return guessed
        if codec == "ascii":
            # High bytes under the default repertoire: Latin-1 is what such writers mean outside China.
            return raw.decode("latin_1"), "ISO_IR 100"
    try:
        return raw.decode(codec), None
    except UnicodeDecodeError:
        return raw.decode(codec, errors="replace"), None


def _guess_chinese(raw: bytes) -> tuple[str, str] | None:
    """UTF-8 or GB18030 text in bytes whose declared character set cannot hold them, else None."""
    try:
        return raw.decode("utf_8"), UTF8_TERM
    except UnicodeDecodeError:
        pass
    text = _try_gb(raw)
    if text is not None:
        return text, GB18030_TERM
    return None


def _try_gb(raw: bytes) -> str | None:
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        return None
    return text if _plausible_gb(text) and _has_han(text) else None


def _is_han(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF


def _has_han(text: str) -> bool:
    return any(_is_han(ch) for ch in text)


def _plausible_gb(text: str) -> bool:
    """Whether decoded text looks like real Chinese text rather than other bytes read as GB.

    Real names and descriptions mostly use the GB2312 repertoire; bytes of another encoding read as GB18030
    land on rare GBK characters or symbols. A rare ideograph (as in some given names) is accepted unless it
    touches an ASCII letter: a Latin accented letter read as GB pairs with the next ASCII letter (Müller).
    """
    common = rare = 0
    for i, ch in enumerate(text):
        if ch.isascii():
            continue
        try:
            ch.encode("gb2312")
            common += 1
            continue
        except UnicodeEncodeError:
            pass
        if not _is_han(ch):
            return False
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()):
            return False
        rare += 1
    # Rare characters never outnumber common ones in real text (Ñoño read as GB gives two rare ones).
    return rare <= common


def _decode_iso2022(raw: bytes, g1: str | None, errors: str = "strict") -> str:
    """Decode a value with ISO 2022 code extensions; escape sequences are not part of the text.

    Each run between escape sequences is decoded with the graphic sets designated at its start. PS3.5
    6.1.2.5.3 makes the initial designations active again before value, component and line delimiters.
    """
    if b"\x1b" not in raw:
        return raw.decode(g1 or "ascii", errors=errors)
    out: list[str] = []
    pos = 0
    g0: str | None = None
    cur_g1 = g1
    for m in _ESCAPE_RE.finditer(raw):
        if m.start() > pos:
            out.append(_decode_run(raw[pos : m.start()], g0, cur_g1, g1, errors))
        seq = m.group(0)
        graphic, codec = _ESCAPES.get(seq, ("G0", None))
        if graphic == "G0":
            g0 = codec
            if codec is not None:
                # JIS X 0208/0212: the Python codec needs its escape sequence in front of the bytes.
                end = _next_escape(raw, m.end())
                out.append((seq + raw[m.end() : end]).decode(codec, errors=errors))
                pos = end
                continue
        else:
            cur_g1 = codec
        pos = m.end()
    if pos < len(raw):
        out.append(_decode_run(raw[pos:], g0, cur_g1, g1, errors))
    return "".join(out)


def _next_escape(raw: bytes, start: int) -> int:
    i = raw.find(b"\x1b", start)
    return len(raw) if i < 0 else i


_DELIMS = re.compile(rb"[\\^=\r\n\f\t]")


def _decode_run(run: bytes, g0: str | None, g1: str | None, initial_g1: str | None, errors: str) -> str:
    if g1 == initial_g1 or run.isascii():
        return run.decode(g1 or "ascii", errors=errors)
    try:
        # Many writers keep G1 designated across "^" and "=" (the bytes are unambiguous: G1 is high-bit).
        return run.decode(g1 or "ascii")
    except UnicodeDecodeError:
        pass
    m = _DELIMS.search(run)
    if m is None:
        return run.decode(g1 or "ascii", errors=errors)
    # PS3.5 6.1.2.5.3: after a delimiter the initial designations are active again.
    head, tail = run[: m.start()], run[m.start() :]
    return head.decode(g1 or "ascii", errors=errors) + tail.decode(initial_g1 or "ascii", errors=errors)
