"""Normalisation of raw exam names: width, case, symbols, codes, scanner prefixes, pinyin, typos, noise (rule 13)."""

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
    r"\d+\s*(?:排|层)|(?<![a-z0-9.])\d(?:\.\d{1,2})?\s*t(?![a-z])"
    r"|(?<![a-z])[ctls]\d{1,2}(?:\s*[-~/]\s*[ctls]?\d{1,2})?(?![a-z0-9])"
)
_LATIN_HYPHEN = re.compile(r"(?<=[a-z])[-_](?=[a-z])")
_NEUTRAL = re.compile(r"[\[\]()\-:_]|(?<!\d)\.|\.(?!\d)")
_SPACES = re.compile(r"\s+")
_EMPTY_BRACKETS = re.compile(r"[\[(][\s\-:_]*[\])]")
_SPACE_NEAR_CJK = re.compile(r"\s+(?=[\u3400-\u9fff+、,;])|(?<=[\u3400-\u9fff+、,;])\s+")


# Model numbers after a vendor or model word ("Discovery MR750", "Aquilion 64", "Voluson E10", "uMR 790").
_MODEL_NUMBER = r"[a-z]{0,4}\d{1,4}[a-z]{0,2}(?![a-z0-9])"
_UNITED_MODELS = r"u(?:ct|mr|mi|dr)(?:\s*\d{1,4})?(?![a-z])"


def _word_alt(words: list[str]) -> str:
    alts = []
    for w in words:
        esc = re.escape(w).replace("\\ ", "\\s*")
        alts.append(f"(?<![a-z0-9]){esc}(?![a-z])" if w[:1].isascii() and w[:1].isalpha() else esc)
    return "|".join(alts)


def scanner_pattern(lexicon: Lexicon) -> re.Pattern[str]:
    """Vendor and model words with the model numbers after them (built once per lexicon)."""
    pattern = lexicon.cache.get("scanner")
    if pattern is None:
        vendors = [w for w in lexicon.scanner_vendors if len(w) > 2 or not w.isascii()]
        short = [w for w in lexicon.scanner_vendors if len(w) <= 2 and w.isascii()]
        models = _word_alt(lexicon.scanner_models) or "(?!)"
        head = "|".join(filter(None, [_word_alt(vendors), models, f"(?<![a-z0-9]){_UNITED_MODELS}"]))
        follow = f"(?:\\s*(?:{models}|{_UNITED_MODELS}|{_MODEL_NUMBER}))*"
        starts = f"^\\s*(?:{'|'.join(re.escape(w) for w in short)})(?![a-z])" if short else "(?!)"
        pattern = re.compile(f"(?:{starts}|{head}){follow}")
        lexicon.cache["scanner"] = pattern
    return pattern


_LATIN_RUN = re.compile(r"[a-z]+")


def _may_name_a_scanner(s: str, latin_words: list[str], lexicon: Lexicon) -> bool:
    """A cheap test before the scanner pattern: does any vendor or model word occur at all?"""
    words = lexicon.cache.get("scanner_words")
    if words is None:
        everything = [*lexicon.scanner_vendors, *lexicon.scanner_models]
        latin = frozenset(w.split()[0] for w in everything if w.isascii())
        cjk = tuple(w for w in everything if not w.isascii())
        words = lexicon.cache["scanner_words"] = (latin, cjk, frozenset(w[0] for w in cjk))
    latin, cjk, cjk_first = words
    if not cjk_first.isdisjoint(s) and any(w in s for w in cjk):
        return True
    return any(w in latin or w[:3] in _UNITED_PREFIXES for w in latin_words)


_UNITED_PREFIXES = frozenset({"uct", "umr", "umi", "udr"})


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


def normalize(raw: str, lexicon: Lexicon, *, other_styles: bool = True) -> Normalized:
    """Normalise one raw exam name.

    Parameters
    ----------
    raw
        The name exactly as the institution wrote it.
    lexicon
        Supplies the typo table, the noise words, the scanner words and the words pinyin is read as.
    other_styles
        Also strip scanner and protocol prefixes and read pinyin as Chinese (issue 19). False gives the
        normalisation as it was before, kept as the speed baseline of ``bench/standardize.py``.

    Returns
    -------
    Normalized
        Half-width, lower-case text without stray symbols, local codes, scanner words, urgency/setting
        marks or package words, pinyin read as Chinese; spaces next to CJK characters are dropped.
    """
    s = unicodedata.normalize("NFKC", raw).lower().translate(_BRACKETS)
    s = _STRAY.sub(" ", s)
    # Spaces next to CJK characters go first, so that a split word ("住 院", "含胶 片") is still a word.
    s = _SPACE_NEAR_CJK.sub("", _SPACES.sub(" ", s))
    s = _SLICES.sub("", s)
    if other_styles:
        latin_words = _LATIN_RUN.findall(s)
        if _may_name_a_scanner(s, latin_words, lexicon):
            s = scanner_pattern(lexicon).sub(" ", s)
            latin_words = _LATIN_RUN.findall(s)
        if latin_words:
            from transforms.exam_names.pinyin import pinyin_reader

            reader = pinyin_reader(lexicon)
            if any(reader.is_pinyin(w) for w in latin_words):
                s = _SPACE_NEAR_CJK.sub("", _SPACES.sub(" ", reader.convert(s)))
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
