"""FHIR search parameters → queries on the lake index, for one data space.

Each parameter is parsed strictly: an unknown parameter, modifier or prefix is a 400 (a typo must never
widen a search to everything). Persons are found through small sorted key tables (identifier, name prefix,
phone) and then read by id; imaging rows are narrowed by person first whenever a search names one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from services.errors import ServiceError
from services.fhir.resources import GENDER_CODES, REPORTED
from services.fhir.systems import DICOM_UID, Systems
from services.spaces import Space

_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TOP = "\U0010ffff"  # above every character: [p, p + _TOP) is "starts with p"
MAX_CANDIDATES = 100_000


class SearchError(ServiceError):
    """A search the service refuses (400), answered as an OperationOutcome."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(status, reason)


def rows(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run a query; its rows as dicts."""
    result = cur.execute(sql, list(params))
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def in_list(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column IN (?, ?, ...)``: a literal list the index scan can use (an unnest join scans the table)."""
    if not values:
        return "FALSE", []
    if len(values) > 500:  # past this a join on the list is cheaper than 500 index probes
        return f"{column} IN (SELECT unnest(?::VARCHAR[]))", [list(values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def by_key(table: str, key: tuple[str, list[Any]], select: str, cond: str) -> str:
    """``SELECT select FROM table WHERE key AND cond``, written so that DuckDB answers ``key`` from its ART index.

    DuckDB scans a table through an index only when the scan's filters are all on the indexed column; a second
    condition in the same WHERE turns a lookup of a few rows into a scan of millions. The materialised CTE keeps
    the other conditions out of the scan: they apply to the few rows the index finds.
    """
    return f"WITH hits AS MATERIALIZED (SELECT * FROM {table} WHERE {key[0]}) SELECT {select} FROM hits WHERE {cond}"


# --- dates ------------------------------------------------------------------------------------------------------


def date_range(value: str, tz: ZoneInfo) -> tuple[str, datetime, datetime]:
    """``[prefix]date`` → (prefix, start, end) as aware datetimes; the value's precision sets the range's width."""
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    text = value[2:] if value[:2] in _PREFIXES else value
    m = _DATE.match(text)
    if not m:
        raise SearchError(f"not a FHIR date: {text[:40]!r}")
    year, month, day, hour, minute, second, zone = m.groups()
    zinfo: Any = tz
    if zone:
        zinfo = datetime.fromisoformat(f"2000-01-01T00:00:00{zone.replace('Z', '+00:00')}").tzinfo
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                         int(second or 0), tzinfo=zinfo)  # fmt: skip
    except ValueError:
        raise SearchError(f"not a FHIR date: {text[:40]!r}") from None
    if second is not None:
        end = start + timedelta(seconds=1)
    elif minute is not None:
        end = start + timedelta(minutes=1)
    elif day is not None:
        end = start + timedelta(days=1)
    elif month is not None:
        end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    else:
        end = start.replace(year=start.year + 1)
    return prefix, start, end


def range_clause(column: str, value: str, tz: ZoneInfo) -> tuple[str, list[Any]]:
    """SQL for one date search value on a timestamp-with-zone column (FHIR's range semantics, simplified:
    ``eq`` = within the value's range, ``ne`` = outside it, ``lt``/``eb`` before its start, ``gt``/``sa`` after
    its end, ``le``/``ge`` inclusive)."""
    prefix, start, end = date_range(value, tz)
    clauses = {
        "eq": (f"({column} >= ? AND {column} < ?)", [start, end]),
        "ne": (f"NOT ({column} >= ? AND {column} < ?)", [start, end]),
        "lt": (f"{column} < ?", [start]),
        "eb": (f"{column} < ?", [start]),
        "le": (f"{column} < ?", [end]),
        "gt": (f"{column} >= ?", [end]),
        "sa": (f"{column} >= ?", [end]),
        "ge": (f"{column} >= ?", [start]),
    }
    return clauses[prefix]


def birthdate_clause(value: str) -> tuple[str, list[Any]]:
    """A ``birthdate`` value on the person's DATE column."""
    prefix, start, end = date_range(value, ZoneInfo("UTC"))
    s, e = start.date(), end.date()
    return {
        "eq": ("(birth_date >= ? AND birth_date < ?)", [s, e]),
        "ne": ("NOT (birth_date >= ? AND birth_date < ?)", [s, e]),
        "lt": ("birth_date < ?", [s]),
        "eb": ("birth_date < ?", [s]),
        "le": ("birth_date < ?", [e]),
        "gt": ("birth_date >= ?", [e]),
        "sa": ("birth_date >= ?", [e]),
        "ge": ("birth_date >= ?", [s]),
    }[prefix]


# --- parameters ---------------------------------------------------------------------------------------------------


@dataclass
class Params:
    """A request's search parameters, each name with its values (repeated = AND, comma inside = OR)."""

    items: list[tuple[str, str]]
    used: set[str] = field(default_factory=set)

    def get(self, name: str) -> list[str]:
        self.used.add(name)
        return [v for k, v in self.items if k == name]

    def names(self) -> set[str]:
        return {k for k, _ in self.items}

    def refuse_unknown(self) -> None:
        unknown = sorted(self.names() - self.used)
        if unknown:
            raise SearchError(f"unsupported search parameter: {unknown[0][:60]}")


def split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``code`` → (None, code); ``|code`` → ('', code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def page_size(params: Params, default: int, maximum: int) -> tuple[int, int]:
    """(``_count``, ``_offset``) within the service's limits."""
    try:
        count = int((params.get("_count") or [str(default)])[-1])
        offset = int((params.get("_offset") or ["0"])[-1])
    except ValueError:
        raise SearchError("_count and _offset must be whole numbers") from None
    if count < 0 or offset < 0:
        raise SearchError("_count and _offset must not be negative")
    return min(count, maximum), offset


# --- persons ------------------------------------------------------------------------------------------------------


class PersonFinder:
    """Finds empi_ids by identifier, name, phone and id, within what a space may see."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, systems: Systems, space: Space) -> None:
        self.cur = cur
        self.systems = systems
        self.space = space

    def resolve(self, empi_id: str) -> str:
        """The person an id is now (a merged-away id answers with its survivor)."""
        found = self.cur.execute("SELECT survivor FROM alias WHERE old_id = ?", [empi_id]).fetchone()
        return str(found[0]) if found else empi_id

    def by_identifier(self, value: str) -> set[str]:
        """``[system|]value`` over the master index id, every institution's MRN and the resident ID."""
        system, code = split_token(value)
        if not code:
            raise SearchError("identifier needs a value")
        if system == self.systems.empi:
            return {self.resolve(code)}
        institution = None
        if system and system != self.systems.resident_id:
            institution = self.systems.institution_of(system, "mrn")
            if institution is None:
                return set()
        # The value alone is the index's key (DuckDB uses an ART index for one column's equality only); the
        # kind and institution are checked on the few rows it finds.
        found = set()
        for kind, inst, empi_id in self.cur.execute(
            "SELECT kind, institution, empi_id FROM ident WHERE value = ?", [code]
        ).fetchall():
            if system == self.systems.resident_id and kind != "resident":
                continue
            if institution is not None and (kind != "mrn" or inst != institution):
                continue
            found.add(empi_id)
        if system is None or system == "":
            found.add(self.resolve(code))  # an empi_id needs no system either
        return found

    def by_name(self, value: str, modifier: str, where: Sequence[str] = (), args: Sequence[Any] = ()) -> set[str]:
        """Persons whose name starts with ``value`` (case-insensitive), or equals it (``exact``), or contains it
        (``contains``); ``where``/``args``: further conditions on the person's ``sex`` and ``birth_date``."""
        cond, params = name_condition(value, modifier)
        sql = " AND ".join([cond, *where])
        return self._capped(f"SELECT empi_id FROM person_name WHERE {sql}", [*params, *args])

    def by_phone(self, value: str) -> set[str]:
        digits = re.sub(r"[^0-9+]", "", value)
        return self._capped("SELECT empi_id FROM person_phone WHERE phone = ?", [digits or value])

    def _capped(self, sql: str, params: list[Any]) -> set[str]:
        found = [r[0] for r in self.cur.execute(f"{sql} LIMIT {MAX_CANDIDATES + 1}", params).fetchall()]
        if len(found) > MAX_CANDIDATES:
            raise SearchError(f"the search matches more than {MAX_CANDIDATES:,} persons: narrow it", 413)
        return set(found)

    def visible(self, ids: set[str]) -> set[str]:
        """The persons of ``ids`` this space may see (a space limited to institutions sees their patients)."""
        if not self.space.config.institutions or not ids:
            return ids
        inst_sql, inst_params = in_list("institution", self.space.config.institutions)
        key = in_list("empi_id", sorted(ids))
        sql = by_key("ident", key, "DISTINCT empi_id", f"kind = 'mrn' AND {inst_sql}")
        return {r[0] for r in self.cur.execute(sql, key[1] + inst_params).fetchall()}


def name_condition(value: str, modifier: str) -> tuple[str, list[Any]]:
    """The condition on ``person_name`` for one ``name`` value: starts with it, case-insensitive (no modifier),
    equals it (``exact``) or contains it, case-insensitive (``contains``)."""
    key = value.strip().lower()
    if not key:
        raise SearchError("name needs a value")
    if modifier == "exact":  # the lower-cased key narrows to a range, the name itself decides
        return "name_key = lower(?) AND name = ?", [value, value]
    if modifier == "contains":
        return "contains(name_key, ?)", [key]
    return "name_key >= ? AND name_key < ?", [key, key + _TOP]


_SELECTIVE = ("_id", "identifier", "name", "name:exact", "name:contains", "phone")


def only_name(params: Params) -> tuple[str, str] | None:
    """``(value, modifier)`` when a Patient search's one selective parameter is a single ``name`` value (the
    common search, answered from ``person_name`` alone), else None."""
    named = [(k, v) for k, v in params.items if k in _SELECTIVE]
    if len(named) != 1 or not named[0][0].startswith("name") or "," in named[0][1]:
        return None
    params.get(named[0][0])
    return named[0][1], named[0][0].partition(":")[2]


def person_ids(
    finder: PersonFinder, params: Params, where: Sequence[str] = (), args: Sequence[Any] = ()
) -> tuple[set[str] | None, bool]:
    """The empi_ids named by a Patient search's selective parameters (None when it names none), and whether
    they are already known to be persons that meet ``where`` (true when a name narrowed them: the name table
    holds only persons, and applies the conditions itself)."""
    sets: list[set[str]] = []
    checked = False
    for value in params.get("_id"):
        sets.append({finder.resolve(v) for v in value.split(",")})
    for value in params.get("identifier"):
        sets.append(set().union(*(finder.by_identifier(v) for v in value.split(","))))
    for modifier in ("", "exact", "contains"):
        name = "name" + (f":{modifier}" if modifier else "")
        for value in params.get(name):
            sets.append(set().union(*(finder.by_name(v, modifier, where, args) for v in value.split(","))))
            checked = True
    for value in params.get("phone"):
        sets.append(set().union(*(finder.by_phone(v) for v in value.split(","))))
    if not sets:
        return None, False
    found = set.intersection(*sets)
    return finder.visible(found), checked


def person_filters(params: Params) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``person`` for ``gender`` and ``birthdate``."""
    where: list[str] = []
    args: list[Any] = []
    for value in params.get("gender"):
        codes = []
        for g in value.split(","):
            if g not in (*GENDER_CODES, "unknown"):
                raise SearchError(f"gender must be male, female, other or unknown, not {g[:20]!r}")
            codes.append(g)
        known = [GENDER_CODES[g] for g in codes if g in GENDER_CODES]
        parts = [f"sex IN ({', '.join('?' * len(known))})"] if known else []
        if "unknown" in codes:
            parts.append("(sex IS NULL OR sex NOT IN ('M', 'F', 'O'))")
        where.append("(" + " OR ".join(parts) + ")")
        args.extend(known)
    for value in params.get("birthdate"):
        sql, a = birthdate_clause(value)
        where.append(sql)
        args.extend(a)
    return where, args


# --- imaging -------------------------------------------------------------------------------------------------------


def space_clause(space: Space) -> tuple[list[str], list[Any]]:
    """What a space's filters leave of the imaging rows (institutions, modalities, a window of exam days, a cohort)."""
    cfg = space.config
    where: list[str] = []
    args: list[Any] = []
    if cfg.institutions:
        sql, a = in_list("institution", cfg.institutions)
        where.append(sql)
        args += a
    if cfg.modalities:
        where.append("list_has_any(modalities, ?::VARCHAR[])")
        args.append(list(cfg.modalities))
    if cfg.date_from:
        where.append("started >= timezone(getvariable('tz'), ?::TIMESTAMP)")
        args.append(datetime.combine(cfg.date_from, datetime.min.time()))
    if cfg.date_to:
        where.append("started < timezone(getvariable('tz'), ?::TIMESTAMP)")
        args.append(datetime.combine(cfg.date_to + timedelta(days=1), datetime.min.time()))
    if cfg.cohort:
        where.append("study_uid IN (SELECT study_instance_uid FROM cohort_member WHERE cohort = ?)")
        args.append(cfg.cohort)
    return where, args


def patient_reference(finder: PersonFinder, value: str) -> str:
    """``Patient/ID``, a full URL ending so, or a bare ID → the person's current empi_id."""
    ref = value.rstrip("/").rsplit("/", 2)
    if len(ref) >= 2 and ref[-2] != "Patient":
        raise SearchError("patient must reference a Patient")
    return finder.resolve(ref[-1])


def imaging_filters(
    finder: PersonFinder, params: Params, tz: ZoneInfo, systems: Systems
) -> tuple[list[str], list[Any], set[str] | None]:
    """Conditions on ``imaging`` for an ImagingStudy search, and the persons it names (None: any person)."""
    where: list[str] = []
    args: list[Any] = []
    persons: list[set[str]] = []
    for name in ("patient", "subject", "subject:Patient"):
        for value in params.get(name):
            persons.append({patient_reference(finder, v) for v in value.split(",")})
    for name in ("patient.identifier", "subject:Patient.identifier", "subject.identifier"):
        for value in params.get(name):
            persons.append(set().union(*(finder.by_identifier(v) for v in value.split(","))))
    for value in params.get("_id"):
        sql, a = in_list("study_uid", value.split(","))
        where.append(sql)
        args += a
    for value in params.get("identifier"):
        ors, a = [], []
        for v in value.split(","):
            sql, more = _study_identifier(v, systems)
            ors.append(sql)
            a += more
        where.append("(" + " OR ".join(ors) + ")")
        args += a
    for value in params.get("started"):
        sql, a = range_clause("started", value, tz)
        where.append(sql)
        args += a
    for value in params.get("modality"):
        codes = [split_token(v)[1] for v in value.split(",")]
        where.append("list_has_any(modalities, ?::VARCHAR[])")
        args.append(codes)
    found = set.intersection(*persons) if persons else None
    return where, args, (finder.visible(found) if found is not None else None)


def _study_identifier(value: str, systems: Systems) -> tuple[str, list[Any]]:
    system, code = split_token(value)
    uid = code[len("urn:oid:") :] if code.startswith("urn:oid:") else code
    if system == DICOM_UID:
        return "study_uid = ?", [uid]
    if system:
        institution = systems.institution_of(system, "accession")
        if institution is None:
            return "FALSE", []
        return "(accession = ? AND institution = ?)", [code, institution]
    return "(study_uid = ? OR accession = ?)", [uid, code]


REPORTED_SQL = f"report_status IN ({', '.join(repr(s) for s in REPORTED)}) AND report_id IS NOT NULL"
