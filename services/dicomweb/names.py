"""Person names for matching: lower-cased component groups, and the fuzzy form (name parts, spacing, pinyin).

Fuzzy matching (``fuzzymatching=true``) treats a name as the set of its parts, whatever their case, order,
spacing or separators (``Zhang^Wei``, ``WEI ZHANG``, ``zhang  wei``), and reads Chinese characters as their
pinyin: ``张伟`` matches ``Zhang^Wei`` and ``zhangwei`` both ways. A name is stored as ``|part|part|...|``
with each part and the concatenations of all parts in both orders, so a query part is one LIKE.
"""

from __future__ import annotations

import re

from pypinyin import lazy_pinyin

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SEPARATORS = re.compile(r"[\^\s,.\-]+")


def name_groups(raw: str | None) -> tuple[str, str, str]:
    """The value lower-cased as written, its Alphabetic group and its Ideographic group (lower-cased)."""
    if not raw:
        return "", "", ""
    groups = ([*raw.split("="), "", ""])[:2]
    return raw.casefold(), groups[0].casefold(), groups[1].casefold()


def _parts(group: str) -> list[str]:
    """The name parts of one component group; a run of Chinese characters without ``^`` is family + given."""
    parts: list[str] = []
    for piece in _SEPARATORS.split(group):
        if not piece:
            continue
        if _CJK.search(piece):
            syllables = [s.casefold() for s in lazy_pinyin(piece) if s.strip()]
            if "^" not in group and len(syllables) > 1:
                parts += [syllables[0], "".join(syllables[1:])]
            else:
                parts.append("".join(syllables))
        else:
            parts.append(piece.casefold())
    return parts


def fuzzy_form(raw: str | None) -> str:
    """The stored fuzzy form of a PN value: ``|part|...|both concatenations|`` over all its groups."""
    if not raw:
        return ""
    forms: set[str] = set()
    for group in raw.split("="):
        parts = _parts(group)
        if parts:
            forms.update(parts)
            forms.add("".join(parts))
            forms.add("".join(reversed(parts)))
    return "|" + "|".join(sorted(forms)) + "|" if forms else ""


def fuzzy_query_parts(value: str) -> list[str]:
    """The parts a fuzzy query needs, all of which must be among a name's (wildcards ``*``/``?`` kept)."""
    out: list[str] = []
    for group in value.split("="):
        for piece in _SEPARATORS.split(group):
            if not piece:
                continue
            if _CJK.search(piece):
                out.append("".join(s.casefold() for s in lazy_pinyin(piece)))
            else:
                out.append(piece.casefold())
    return out
