"""Phone numbers and postal addresses as Chinese clerks type them, normalised for comparison."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_address", "normalize_phone"]

_NON_DIGIT = re.compile(r"\D+")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")

_SPACE_PUNCT = re.compile(r"[\s,，.。、:：;；()（）\-—_#]+")
# Province (or municipality) and prefecture-level city in front of a district, county or county-level city.
_REGION_PREFIX = re.compile(
    r"^(?:[\u4e00-\u9fff]{2,7}?(?:省|自治区|特别行政区))?"
    r"(?:(?:北京|上海|天津|重庆)市?|[\u4e00-\u9fff]{2,6}?(?:市|自治州|地区|盟))?"
    r"(?=[\u4e00-\u9fff]{1,8}?(?:区|县|市|旗))"
)
# Building words that mean the same thing: 幢, 栋, 号楼 and 座 all name a building.
_BUILDING = re.compile(r"(?<=\d)(?:栋|号楼|座)")
_ROOM = re.compile(r"(?<=\d)(?:室|房|号房)$")
_FULL_WIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"\u3000": " "})


def normalize_phone(value: object) -> str:
    """Normalise a phone number: digits only, China's country code dropped.

    Parameters
    ----------
    value
        As typed: ``+86 138 1234 5678``, ``138-1234-5678``, ``008613812345678``, ``0571-8888 6666``.

    Returns
    -------
    str
        An 11-digit mobile number (``13812345678``) or a landline with its area code (``057188886666``);
        ``""`` when the value is empty or not a Chinese phone number.
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    digits = _NON_DIGIT.sub("", unicodedata.normalize("NFKC", str(value)))
    # Country code: 0086 or 86 in front of a mobile number (landlines abroad-style are written +86 571 ...).
    international = False
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif digits.startswith("86") and len(digits) in (11, 12, 13) and not _MOBILE.match(digits[:11]):
        digits, international = digits[2:], True
    if international and len(digits) in (9, 10, 11) and not digits.startswith(("0", "1")):
        digits = "0" + digits  # +86 571 8888 6666: the trunk 0 is dropped after the country code
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    return ""


def normalize_address(value: object) -> str:
    """Normalise a postal address for comparison.

    Full-width characters become ASCII, spaces and punctuation go, the province and the prefecture-level
    city are dropped when a district follows (``浙江省杭州市西湖区`` and ``杭州市西湖区`` both give
    ``西湖区``), building words are unified (``栋``, ``号楼``, ``座`` → ``幢``) and a trailing ``室`` goes.

    Parameters
    ----------
    value
        The address as typed.

    Returns
    -------
    str
        The normalised address; ``""`` when empty.
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value).translate(_FULL_WIDTH)
    if text and max(text) >= "\uff00":
        text = unicodedata.normalize("NFKC", text)  # other full-width forms, rarely needed
    text = _SPACE_PUNCT.sub("", text)
    text = _REGION_PREFIX.sub("", text, count=1)
    text = _BUILDING.sub("幢", text)
    return _ROOM.sub("", text)
