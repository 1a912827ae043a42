"""QIDO-RS searches as SQL over the loaded index: the space's filters, the query's conditions, a stable order.

Every value reaches DuckDB as a bound parameter; column names come only from :mod:`services.dicomweb.keys`.
A search counts its matches up to ``serve.max_matches`` + 1 (a broader one is refused, 413) and reads one page
in a total order (ties broken by UID), so ``limit``/``offset`` pages never skip or repeat. A search named by
UID reads its page first and counts only when that page could hide more matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.dicomweb.deid import UID_COLUMNS, SpaceDeid
from services.dicomweb.index import Snapshot, rows
from services.dicomweb.keys import Level, MatchKey
from services.dicomweb.masks import positions
from services.dicomweb.names import fuzzy_query_parts
from services.dicomweb.query import Condition, Query, like_pattern
from services.errors import ServiceError
from services.spaces import Space

_FROM: dict[Level, str] = {
    "study": "studies st",
    "series": "series se JOIN studies st ON st.study_instance_uid = se.study_instance_uid",
    "instance": (
        "instances i JOIN series se ON se.series_instance_uid = i.series_instance_uid "
        "JOIN studies st ON st.study_instance_uid = i.study_instance_uid"
    ),
}
# The answer order: each table's ``ord`` column, computed at load (services.dicomweb.index._ANSWER_ORDER): studies
# newest first, series by their study's date then study and number, instances by series and number; ties broken
# by UID, so limit/offset pages never skip or repeat.
_ORDER: dict[Level, str] = {"study": "st.ord", "series": "se.ord", "instance": "i.ord"}
# A UID key is matched on the searched table's own column: DuckDB then prunes the sorted table's row groups.
_OWN_UID = {
    ("series", "st.study_instance_uid"): "se.study_instance_uid",
    ("instance", "st.study_instance_uid"): "i.study_instance_uid",
    ("instance", "se.series_instance_uid"): "i.series_instance_uid",
}
_PN_COLUMNS = {"st.patient_name": "st.pn", "st.referring_physician_name": "st.ref"}
_STRING_DATES = frozenset({"se.pps_start_date"})


@dataclass
class SearchResult:
    """One page of matches (each row: the columns of the level's tables, prefixed ``st.``/``se.``/``i.``)."""

    rows: list[dict[str, Any]]


def _space_sql(space: Space, level: Level) -> tuple[list[str], list[Any]]:
    cfg = space.config
    where: list[str] = []
    params: list[Any] = []
    if cfg.institutions:
        where.append(f"lower(st.institution_name) IN ({', '.join('?' * len(cfg.institutions))})")
        params += [i.casefold() for i in cfg.institutions]
    if cfg.modalities:
        where.append("list_has_any(st.modalities, ?::VARCHAR[])")
        params.append(list(cfg.modalities))
        if level != "study":
            where.append(f"se.modality IN ({', '.join('?' * len(cfg.modalities))})")
            params += list(cfg.modalities)
    if cfg.date_from:
        where.append("st.study_date >= ?")
        params.append(cfg.date_from)
    if cfg.date_to:
        where.append("st.study_date <= ?")
        params.append(cfg.date_to)
    if cfg.cohort:
        where.append("st.study_instance_uid IN (SELECT study_instance_uid FROM cohort_members WHERE space = ?)")
        params.append(space.name)
    return where, params


def _real_uids(deid: SpaceDeid, cursor: Any, column: str, values: tuple[object, ...]) -> tuple[object, ...]:
    """The real UIDs behind the space's keyed ones (unknown ones map to nothing, so they match nothing)."""
    table, real, stem = UID_COLUMNS[column]
    marks = ", ".join("?" * len(values))
    sql = f"SELECT {real} FROM {table} WHERE {deid.column(stem)} IN ({marks})"
    return tuple(r[0] for r in cursor.execute(sql, list(values)).fetchall())


def space_deid(snapshot: Snapshot, space: Space) -> SpaceDeid | None:
    """The de-identification of a de-identified space (None for an identified one).

    Raises
    ------
    ServiceError
        503 when the space cannot be served de-identified (no pseudonym key, or its cohort rule unreadable).
    """
    if space.identified:
        return None
    deid = snapshot.deid.get(space.name)
    if deid is None:
        raise ServiceError(503, "this space's de-identification is not configured on the server")
    return deid


def _pn_sql(base: str, cond: Condition, fuzzy: bool) -> tuple[str, list[Any]]:
    value = str(cond.values[0])
    if fuzzy:
        parts = fuzzy_query_parts(value)
        if not parts:
            return "TRUE", []
        clauses = [f"{base}_fuzzy LIKE ? ESCAPE '\\'" for _ in parts]
        return "(" + " AND ".join(clauses) + ")", ["%|" + like_pattern(p) + "|%" for p in parts]
    folded = value.casefold()
    if cond.op == "like":
        pattern = like_pattern(folded)
        return (
            f"({base}_l LIKE ? ESCAPE '\\' OR {base}_a LIKE ? ESCAPE '\\' OR {base}_i LIKE ? ESCAPE '\\')",
            [pattern] * 3,
        )
    return f"({base}_l = ? OR {base}_a = ? OR {base}_i = ?)", [folded] * 3


def _condition_sql(cond: Condition, column: str, key: MatchKey, fuzzy: bool) -> tuple[str, list[Any]]:
    values = list(cond.values)
    if key.kind == "pn" and column in _PN_COLUMNS:
        return _pn_sql(_PN_COLUMNS[column], cond, fuzzy)
    if cond.op == "in" and key.kind == "list":
        return f"list_has_any({column}, ?::VARCHAR[])", [[str(v) for v in values]]
    if cond.op == "in":
        if not values:
            return "FALSE", []
        return f"{column} IN ({', '.join('?' * len(values))})", values
    if cond.op == "like":
        pattern = like_pattern(str(values[0]))
        if key.kind == "list":
            return f"len(list_filter({column}, x -> x LIKE ? ESCAPE '\\')) > 0", [pattern]
        return f"{column} LIKE ? ESCAPE '\\'", [pattern]
    if cond.op == "range":
        low, high = values
        expr = column
        if key.kind == "time":
            expr = f"rpad(split_part(replace({column}, ':', ''), '.', 1), 6, '0')"
        elif column in _STRING_DATES:
            low = low.strftime("%Y%m%d") if low else None  # type: ignore[attr-defined]
            high = high.strftime("%Y%m%d") if high else None  # type: ignore[attr-defined]
        clauses, params = [], []
        if low is not None:
            clauses.append(f"{expr} >= ?")
            params.append(low)
        if high is not None:
            clauses.append(f"{expr} <= ?")
            params.append(high)
        return "(" + " AND ".join(clauses) + ")", params
    return f"{column} = ?", values


def _span_sql(spans: dict[str, tuple[int, int]], uids: tuple[object, ...]) -> tuple[str, list[Any]]:
    """Instances of a study or series as ranges of ``i.ord``: the table is stored in that order, so DuckDB
    compares integers within one row group instead of UIDs (an unknown UID matches nothing)."""
    found = [spans[u] for u in dict.fromkeys(uids) if isinstance(u, str) and u in spans]
    if not found:
        return "FALSE", []
    return "(" + " OR ".join("i.ord BETWEEN ? AND ?" for _ in found) + ")", [v for span in found for v in span]


def search(
    snapshot: Snapshot,
    space: Space,
    level: Level,
    query: Query,
    scope: list[Condition],
    *,
    max_matches: int,
    stored: bool = False,
) -> SearchResult:
    """Run a QIDO-RS search in one space.

    Parameters
    ----------
    snapshot
        The loaded index.
    space
        The requesting space (its filters apply to every search; a de-identified space matches keyed UIDs and
        Patient IDs, and only what its profile keeps: :meth:`services.dicomweb.deid.SpaceDeid.match_column`).
    level
        What is returned.
    query
        The checked query (:func:`services.dicomweb.query.parse_query`).
    scope
        UID conditions from the path (``studies/{uid}/series``).
    max_matches
        ``serve.max_matches``.
    stored
        Whether instance rows carry where their file is (path, checksum, transfer syntax): retrieval needs them,
        an answer does not.

    Raises
    ------
    ServiceError
        400 a key a de-identified space may not match; 503 a de-identified space that cannot be served; 413
        more than ``max_matches`` matches.
    """
    cursor = snapshot.cursor()
    deid = space_deid(snapshot, space)
    where, params = _space_sql(space, level)
    conditions = [*scope, *query.conditions]
    if deid is None and not where and level in snapshot.arrays:  # a modality or date range: no SQL at all
        order = snapshot.by_ord[_TABLE_OF[_ALIAS[level]][0]]
        found = positions(snapshot.arrays[level], conditions, len(order))
        if found is not None:
            if len(found) > max_matches:
                raise _broad(level, max_matches)
            picked = found[query.offset : query.offset + query.limit].tolist()
            return SearchResult(rows=_rows(snapshot, level, [order[n] for n in picked]))
    # Inside a study's or series' span of instances, another UID is checked only on the span's rows: as a plain
    # comparison DuckDB would test it on every row of the row group first (3 ms instead of under 1).
    spanned = any(
        c.op == "in" and _OWN_UID.get((level, c.key.column)) in snapshot.spans for c in (*scope, *query.conditions)
    )
    bound = snapshot.counts.get(_TABLE_OF[_ALIAS[level]][0], max_matches + 1)  # the most rows that can match
    for cond in [*scope, *query.conditions]:
        key = cond.key
        column = key.column
        if deid is not None:
            if key.kind == "uid" and column in UID_COLUMNS:
                cond = Condition(key, "in", _real_uids(deid, cursor, column, cond.values))
            else:
                column = deid.match_column(key)
        column = _OWN_UID.get((level, column), column)
        spans = snapshot.spans.get(column) if cond.op == "in" else None
        if spans is not None:
            sql, values = _span_sql(spans, cond.values)
            bound = min(bound, sum(hi - lo + 1 for lo, hi in zip(values[::2], values[1::2], strict=True)))
        elif spanned and cond.op == "in" and key.kind == "uid" and cond.values:
            sql, values = f"list_contains(?::VARCHAR[], {column})", [[str(v) for v in cond.values]]
        else:
            sql, values = _condition_sql(cond, column, key, query.fuzzy)
        where.append(sql)
        params += values
    clause = " AND ".join(where) or "TRUE"
    # Named by UID, a search is narrow: read the page first, and count only when the page could hide more.
    narrow = any(c.key.kind == "uid" for c in conditions)
    # A level with no more rows than max_matches cannot match more (the study and series levels at a million
    # instances), nor can a search inside studies' or series' spans of no more instances: no count is needed.
    countable = bound > max_matches
    if countable and not narrow:
        _refuse_broad(cursor, level, clause, params, max_matches)
    page = _page(snapshot, cursor, level, clause, params, query, stored)
    if countable and narrow and (query.offset > 0 or len(page) >= query.limit):
        _refuse_broad(cursor, level, clause, params, max_matches)
    return SearchResult(rows=page)


def _from(level: Level, sql: str) -> str:
    """The tables a query needs: the level's own alone when nothing of its parents is named (no hash join over
    every study and series for a search inside one series; the order is each table's own ``ord``)."""
    if level == "instance" and "st." not in sql and "se." not in sql:
        return "instances i"
    if level == "series" and "st." not in sql:
        return "series se"
    return _FROM[level]


def _page(
    snapshot: Snapshot, cursor: Any, level: Level, clause: str, params: list[Any], query: Query, stored: bool
) -> list[dict[str, Any]]:
    """One page: the level's keys in order from DuckDB (an instance's whole row: instances are not held in
    memory), then each row's study and series from the snapshot's rows by UID."""
    tables = _from(level, clause)
    alias = _ALIAS[level]
    page = f"FROM {tables} WHERE {clause} ORDER BY {_ORDER[level]} LIMIT ? OFFSET ?"
    values = [*params, query.limit, query.offset]
    if level == "instance":
        select = snapshot.select_list("instances", "i", omit=() if stored else _STORED)
        found = rows(cursor, f"SELECT {select} {page}", values)
        for r in found:
            r.update(snapshot.series.get(r["i.series_instance_uid"], {}))
    else:
        # Only the positions come from DuckDB (a page deep in the order then sorts integers, not UIDs).
        order = snapshot.by_ord[_TABLE_OF[alias][0]]
        if clause == "TRUE":  # every row matches: the page is a slice of the answer order, with no scan at all
            uids = order[query.offset : query.offset + query.limit]
        else:
            uids = [order[n - 1] for (n,) in cursor.execute(f"SELECT {alias}.ord {page}", values).fetchall()]
        return _rows(snapshot, level, uids)
    for r in found:
        r.update(snapshot.studies.get(r["i.study_instance_uid"], {}))
    return found


def _rows(snapshot: Snapshot, level: Level, uids: list[str]) -> list[dict[str, Any]]:
    """The study or series rows of these UIDs from memory, a series' with its study's columns."""
    if level == "study":
        return [dict(snapshot.studies[uid]) for uid in uids]
    studies = snapshot.studies
    found = [dict(snapshot.series[uid]) for uid in uids]
    for r in found:
        r.update(studies.get(r["se.study_instance_uid"], {}))
    return found


_STORED = ("file_path", "file_sha256", "transfer_syntax_uid", "study_bucket")
_ALIAS: dict[Level, str] = {"study": "st", "series": "se", "instance": "i"}
_TABLE_OF = {"st": ("studies", "study_instance_uid"), "se": ("series", "series_instance_uid"),
             "i": ("instances", "sop_instance_uid")}  # fmt: skip


def _refuse_broad(cursor: Any, level: Level, clause: str, params: list[Any], max_matches: int) -> None:
    """413 when more than ``max_matches`` rows match (counting stops at the first one past it)."""
    matched = cursor.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {_from(level, clause)} WHERE {clause} LIMIT ?)",
        [*params, max_matches + 1],
    ).fetchone()
    if matched is not None and matched[0] > max_matches:
        raise _broad(level, max_matches)


def _broad(level: Level, max_matches: int) -> ServiceError:
    return ServiceError(
        413,
        f"the search matches more than {max_matches} {level} rows: narrow it (a date range, a modality, "
        "a patient) or page within a study",
    )
