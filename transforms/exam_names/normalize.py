"""Normalisation of raw exam names: width, case, symbols, local codes, typos and noise words (rule 13)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from transforms.exam_names.lexicon import Lexicon

# Brackets of every width and style become ASCII ones; the text inside stays (CT检查（头颅）).
_BRACKETS = str.maketrans(
    {
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〖": "[",
        "〗": "]",
        "「": "[",
        "」": "]",
        "『": "[",
        "』": "]",
        "《": "[",
        "》": "]",
        "｛": "[",
        "｝": "]",
        "{": "[",
        "}": "]",
    }
)
# Stray symbols (rule 13): anything that is not a letter, digit, CJK character or a meaningful separator.
_STRAY = re.compile(r"[^0-9a-z\u3400-\u9fff+、,;/&()\[\]\-:.\s]")
_LOCAL_CODE_BRACKETED = re.compile(r"^\s*[\[(]\s*[a-z]{0,4}\d+[a-z]{0,2}\s*[\])]\s*")
_LOCAL_CODE = re.compile(r"^\s*([a-z]{1,4})?(\d{2,})[a-z]?(?:[\s\-_:.]+|(?=[\u3400-\u9fff]))")
_LETTER_CODES = frozenset({"ct", "mr", "mri", "dr", "cr", "dx", "us", "mg"})
# Scanner details that never change the code: slices (64排), field strength (3.0T), vertebral levels (L4-5).
_SLICES = re.compile(
    r"\d+\s*(?:排|层)|(?<![a-z0-9.])\d(?:\.\d)?\s*t(?![a-z])"
    r"|(?<![a-z])[ctls]\d{1,2}(?:\s*[-~/]\s*[ctls]?\d{1,2})?(?![a-z0-9])"
)
_LATIN_HYPHEN = re.compile(r"(?<=[a-z])[-_](?=[a-z])")
_NEUTRAL = re.compile(r"[\[\]()\-:_]|(?<!\d)\.|\.(?!\d)")
_SPACES = re.compile(r"\s+")
_EMPTY_BRACKETS = re.compile(r"[\[(][\s\-:_]*[\])]")
_SPACE_NEAR_CJK = re.compile(r"\s+(?=[\u3400-\u9fff+、,;])|(?<=[\u3400-\u9fff+、,;])\s+")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A raw name after normalisation.

    ``text`` is what the recogniser reads; ``billing_text`` is the name before noise words are removed,
    which the billing check reads; ``code_hint`` holds the letters of a leading local code when they name
    a modality ("CT0012 头颅平扫" → ``ct``), a hint used only when the name itself names no modality;
    ``typo_fixes`` counts character slips corrected.
    """

    text: str
    billing_text: str
    code_hint: str = ""
    typo_fixes: int = 0

    @property
    def key(self) -> str:
        """What decides the mapping: equal keys map alike (the engine's cache key)."""
        return f"{self.code_hint}\x1e{self.text}" if self.code_hint else self.text


def _strip_local_code(s: str) -> tuple[str, str]:
    # Leading catalogue codes ("CT0012 ", "[123]", "00123-"): their digits are noise, but letters that name
    # a modality ("CT0012 头颅平扫") hint at what the exam is.
    hint = ""
    for _ in range(2):
        s2 = _LOCAL_CODE_BRACKETED.sub("", s)
        m = _LOCAL_CODE.match(s2)
        if m:
            letters = m.group(1) or ""
            if letters in _LETTER_CODES:
                hint = hint or letters
            s2 = s2[m.end() :]
        if s2 == s:
            break
        s = s2
    return s, hint


def normalize(raw: str, lexicon: Lexicon) -> Normalized:
    """Normalise one raw exam name.

    Parameters
    ----------
    raw
        The name exactly as the institution wrote it.
    lexicon
        Supplies the typo table and the noise words.

    Returns
    -------
    Normalized
        Half-width, lower-case text without stray symbols, local codes, urgency/setting marks or package
        words; spaces next to CJK characters are dropped.
    """
    s = unicodedata.normalize("NFKC", raw).lower().translate(_BRACKETS)
    s = _STRAY.sub(" ", s)
    # Spaces next to CJK characters go first, so that a split word ("住 院", "含胶 片") is still a word.
    s = _SPACE_NEAR_CJK.sub("", _SPACES.sub(" ", s))
    s = _SLICES.sub("", s)
    fixes = 0
    for wrong, right in lexicon.typos:
        if wrong in s:
            fixes += s.count(wrong)
            s = s.replace(wrong, right)
    for word in lexicon.package_words:
        if word in s:
            s = s.replace(word, " ")
    billing_text = s
    for word in lexicon.mark_words:
        if word in s:
            s = s.replace(word, " ")
    s = _EMPTY_BRACKETS.sub(" ", s)
    s, hint = _strip_local_code(s)
    s = _LATIN_HYPHEN.sub(" ", s)
    s = _NEUTRAL.sub(" ", s)
    s = _SPACES.sub(" ", s).strip()
    s = _SPACE_NEAR_CJK.sub("", s)
    return Normalized(text=s, billing_text=billing_text, code_hint=hint, typo_fixes=fixes)
