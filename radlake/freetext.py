"""Identifiers in free text: resident IDs, phones, MRN-like numbers and labelled names, replaced by a marker.

The privacy split between the analysts' and the stewards' files is per column, but a clerk may type anything
into a free-text field: ``CT头颅平扫 患者张三 身份证110101199003071234 电话13812345678``. Free text that reaches
the analysts' file (and the pages built from it) goes through :func:`scrub` (in dbt as the SQL function
``radlake_scrub``, registered by :mod:`radlake.dbt_pseudonyms`); the stewards keep the raw text on their side
(the lake and ``radlake standardize review export``). Each identifier becomes a marker naming its kind, so a
reader sees that something was removed, and what.

The patterns favour removing too much: a run of seven or more digits is taken for an identifier whatever its
label, so a local code that long is lost too (the stewards still see it).
"""

from __future__ import annotations

import re
from collections.abc import Callable

MARKERS = {"id": "[ID]", "phone": "[PHONE]", "mrn": "[MRN]", "name": "[NAME]"}
"""What replaces each kind of identifier."""

_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_LABELS_AFTER_NAME = "电话|手机|联系|身份证|证件|住院|门诊|病历|登记|卡号|床|男|女|岁|性别|年龄"

# Order matters: resident IDs before phones and long numbers, labelled numbers before bare runs of digits.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Resident identity card: 18 digits (the last may be X), or the old 15-digit form; also spaced in groups.
    ("id", re.compile(r"(?<![0-9A-Za-z])\d{6}[ -]?(?:19|20)\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?\d{3}[\dXx](?![0-9A-Za-z])")),
    ("id", re.compile(r"(?<!\d)\d{15}(?!\d)")),
    # Mobile numbers (with +86 and separators), landlines with an area code.
    ("phone", re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")),
    ("phone", re.compile(r"(?<!\d)0\d{2,3}[ -]\d{7,8}(?!\d)")),
    # Numbers behind a record label (住院号, 门诊号, 病历号, 登记号, 卡号, MRN, PID, ID), any length.
    (
        "mrn",
        re.compile(
            r"(?i)(?P<keep>(?:住院号|门诊号|病历号|登记号|就诊号|卡号|mrn|pid|\bid)\s*[:：#]?\s*)"
            r"[A-Za-z]{0,3}\d[\dA-Za-z-]*"
        ),
    ),
    # MRN-like tokens: a few letters then six or more digits (M8800001), or seven or more digits alone.
    ("mrn", re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{1,3}\d{6,}(?![0-9A-Za-z])")),
    ("mrn", re.compile(r"(?<!\d)\d{7,}(?!\d)")),
    # Names behind a person label (患者张三, 姓名：李四), a Han name before 先生/女士, DICOM person names (ZHANG^WEI).
    (
        "name",
        re.compile(
            rf"(?P<keep>(?:患者|病人|姓名|病员|受检者|患儿|家属)\s*[:：]?\s*)[{_HAN}·]{{2,4}}?"
            rf"(?=$|[^{_HAN}·]|{_LABELS_AFTER_NAME})"
        ),
    ),
    ("name", re.compile(rf"[{_HAN}]{{1,3}}(?=先生|女士|小姐)")),
    ("name", re.compile(r"(?<![A-Za-z])[A-Za-z]+\^[A-Za-z^]+")),
    ("name", re.compile(r"(?i)(?P<keep>\b(?:name|patient)\s*[:：]\s*)[A-Za-z]+(?:[ .][A-Za-z]+)?")),
)


def scrub(text: str | None) -> str | None:
    """``text`` with every resident ID, phone, MRN-like number and labelled name replaced by its marker.

    Parameters
    ----------
    text
        Free text (an exam name as a clerk typed it); None stays None.

    Examples
    --------
    >>> scrub("CT头颅平扫 患者张三 身份证110101199003071234 电话13812345678")
    'CT头颅平扫 患者[NAME] 身份证[ID] 电话[PHONE]'
    >>> scrub("CT胸部平扫+增强")
    'CT胸部平扫+增强'
    """
    if text is None:
        return None
    for kind, pattern in _PATTERNS:
        # A label before the identifier stays: 身份证[ID], not [ID].
        keep = "keep" in pattern.groupindex
        text = pattern.sub(_keeping_label(MARKERS[kind]) if keep else MARKERS[kind], text)
    return text


def _keeping_label(marker: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group("keep") + marker
