"""QIDO-RS query parameters → a checked :class:`Query` (PS3.18 8.3.4), refusing what it cannot match exactly.

Every value is checked against its key's grammar before any SQL is built: UIDs, dates, times, integers, and
text of at most 64 characters without control characters. Wildcards are ``*`` and ``?`` only (``%`` and
``_`` are literal characters). A refusal is a :class:`ServiceError` 400 whose reason names the parameter
and never repeats its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from services.dicomweb.keys import LEVEL_RANK, MATCH_KEYS, Level, MatchKey, keyword_of, tag_path
from services.errors import ServiceError

RESERVED = frozenset({"includefield", "limit", "offset", "fuzzymatching"})
MAX_TEXT = 64
MAX_PN = 200  # three component groups of 64 characters and their separators
MAX_LIST = 1000  # values in one UID or code list
MAX_OFFSET = 10_000_000

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_DATE = re.compile(r"(\d{8})?(-)?(\d{8})?")
_TIME = r"(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?"
_TIME_RANGE = re.compile(f"{_TIME}(-)?{_TIME}")
_INT = re.compile(r"-?\d{1,9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Condition:
    """One matching condition: ``op`` is ``eq``, ``like`` (a DICOM wildcard value, ``*`` and ``?``), ``in`` (a
    list) or ``range`` (low, high; None = open)."""

    key: MatchKey
    op: str
    values: tuple[object, ...]


@dataclass
class Query:
    """A checked QIDO-RS request."""

    conditions: list[Condition] = field(default_factory=list)
    return_paths: list[str] = field(default_factory=list)  # empty keys and includefields, in order
    include_all: bool = False
    limit: int = 100
    offset: int = 0
    fuzzy: bool = False


def _bad(reason: str) -> ServiceError:
    return ServiceError(400, reason)


def _integer(name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,12}", text):
        raise _bad(f"{name} must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise _bad(f"{name} must be a whole number from {low} to {high}")
    return value


def parse_uids(name: str, text: str) -> list[str]:
    """The UIDs of a single UID or a list (``\\`` or ``,`` between them); 400 naming ``name`` if one is malformed."""
    parts = [p.strip() for p in re.split(r"[\\,]", text)]
    if len(parts) > MAX_LIST:
        raise _bad(f"{name}: at most {MAX_LIST} UIDs in a list")
    for part in parts:
        if len(part) > 64 or not _UID.fullmatch(part):
            raise _bad(f"{name}: not a UID (digits and dots, at most 64 characters)")
    return parts


def _day(name: str, text: str) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _bad(f"{name}: not a date (YYYYMMDD)") from None


def _date_range(name: str, text: str) -> Condition | tuple[date | None, date | None]:
    match = _DATE.fullmatch(text)
    if not match or text == "-" or (match.group(1) and match.group(3) and not match.group(2)):
        raise _bad(f"{name}: not a date or date range (YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD, YYYYMMDD-)")
    low = _day(name, match.group(1)) if match.group(1) else None
    high = _day(name, match.group(3)) if match.group(3) else None
    if not match.group(2):
        return low, low
    if low and high and high < low:
        raise _bad(f"{name}: the range ends before it starts")
    return low, high


def _time_bound(text: str, upper: bool) -> str:
    """HH, HHMM or HHMMSS[.f] as HHMMSS: the first second it covers, or with ``upper`` the last."""
    whole = text.split(".")[0]
    pad = "5959" if upper else "0000"
    return (whole + pad[len(whole) - 2 :])[:6]


def _time_range(name: str, text: str) -> tuple[str | None, str | None]:
    match = _TIME_RANGE.fullmatch(text)
    if not match or text == "-" or (match.group(1) and match.group(3) and not match.group(2)):
        raise _bad(f"{name}: not a time or time range (HHMMSS, HHMM-HHMM, -HHMM, HH-)")
    for part in (match.group(1), match.group(3)):
        if part and (int(part[:2]) > 23 or (len(part) >= 4 and int(part[2:4]) > 59)):
            raise _bad(f"{name}: not a time (HHMMSS)")
    low = _time_bound(match.group(1), upper=False) if match.group(1) else None
    high = _time_bound(match.group(3), upper=True) if match.group(3) else None
    if not match.group(2):
        high = _time_bound(match.group(1), upper=True)
    if low and high and high < low:
        raise _bad(f"{name}: the range ends before it starts")
    return low, high


def _text(name: str, text: str, limit: int) -> str:
    if len(text) > limit:
        raise _bad(f"{name}: longer than {limit} characters")
    if _CONTROL.search(text):
        raise _bad(f"{name}: holds control characters")
    return text


def like_pattern(text: str) -> str:
    """A DICOM wildcard value as a LIKE pattern with ``\\`` as escape (``%`` and ``_`` stay literal)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _condition(key: MatchKey, name: str, text: str) -> Condition:
    kind = key.kind
    if kind == "uid":
        return Condition(key, "in", tuple(parse_uids(name, text)))
    if kind == "date":
        low, high = _date_range(name, text)  # type: ignore[misc]
        return Condition(key, "range", (low, high))
    if kind == "time":
        return Condition(key, "range", _time_range(name, text))
    if kind == "int":
        if not _INT.fullmatch(text):
            raise _bad(f"{name}: not a whole number")
        return Condition(key, "eq", (int(text),))
    if kind in ("cs", "list"):
        values = [_text(name, v.strip(), MAX_TEXT) for v in re.split(r"[\\,]", text)]
        if len(values) > MAX_LIST:
            raise _bad(f"{name}: at most {MAX_LIST} values in a list")
        if len(values) == 1 and ("*" in values[0] or "?" in values[0]):
            return Condition(key, "like", (values[0],))
        return Condition(key, "in", tuple(values))
    value = _text(name, text, MAX_PN if kind == "pn" else MAX_TEXT)
    if kind == "text" and "\\" in value:
        raise _bad(f"{name}: a single value is expected (no backslash)")
    if "*" in value or "?" in value:
        return Condition(key, "like", (value,))
    return Condition(key, "eq", (value,))


def parse_query(params: list[tuple[str, str]], level: Level, *, default_limit: int, max_limit: int) -> Query:
    """Check and parse the parameters of a QIDO-RS request at ``level``.

    Parameters
    ----------
    params
        The query string's (name, value) pairs in order (repeats allowed only for ``includefield``).
    level
        What is searched for: study, series or instance.
    default_limit, max_limit
        ``serve.default_limit`` and ``serve.max_limit``.

    Raises
    ------
    ServiceError
        400 naming the parameter: unknown attribute, not a matching key at this level, a malformed value,
        a repeated key, a bad limit, offset or fuzzymatching.
    """
    query = Query(limit=default_limit)
    seen: set[str] = set()
    for name, value in params:
        if len(name) > 128:
            raise _bad("a parameter name is longer than 128 characters")
        if name == "includefield":
            _include(query, value)
        elif name == "limit":
            query.limit = _integer("limit", value, 0, max_limit)
        elif name == "offset":
            query.offset = _integer("offset", value, 0, MAX_OFFSET)
        elif name == "fuzzymatching":
            if value not in ("true", "false"):
                raise _bad("fuzzymatching must be true or false")
            query.fuzzy = value == "true"
        else:
            path = tag_path(name)
            if path is None:
                raise _bad(f"unknown attribute {_shown(name)!r}")
            key = MATCH_KEYS.get(path)
            if key is None or LEVEL_RANK[key.level] > LEVEL_RANK[level]:
                raise _bad(f"{keyword_of(path)} is not a matching key of {level} searches")
            if path in seen:
                raise _bad(f"{keyword_of(path)} is given twice")
            seen.add(path)
            if value == "":
                query.return_paths.append(path)  # universal match: only asks for the attribute
            else:
                query.conditions.append(_condition(key, keyword_of(path), value))
                query.return_paths.append(path)
    return query


def _shown(name: str) -> str:
    """A parameter name as it may be quoted back: printable ASCII, cut at 40 characters."""
    return re.sub(r"[^\x21-\x7e]", "?", name)[:40]


def _include(query: Query, value: str) -> None:
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if item == "all":
            query.include_all = True
            continue
        path = tag_path(item)
        if path is None:
            raise _bad(f"includefield: unknown attribute {_shown(item)!r}")
        query.return_paths.append(path)
