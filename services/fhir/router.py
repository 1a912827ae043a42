"""The FHIR R4 routes under ``/spaces/{space}/fhir/``: read, search and ``Patient/{id}/$everything``.

Only identified spaces are served (a pseudonymized space has no Patient, and an ImagingStudy without one
would only invite re-identification through its real UIDs); a space bound to a cohort sees its studies only.
Every search answers a ``searchset`` Bundle with ``total``, ``self`` and ``next`` links.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import duckdb
from fastapi import APIRouter, Request, Response

from services.errors import ServiceError
from services.fhir import resources as res
from services.fhir.outcome import FhirRoute, fhir_response
from services.fhir.search import (
    MAX_CANDIDATES,
    REPORTED_SQL,
    Params,
    PersonFinder,
    SearchError,
    by_key,
    imaging_filters,
    in_list,
    name_condition,
    only_name,
    page_size,
    person_filters,
    person_ids,
    rows,
    space_clause,
)
from services.fhir.systems import Systems
from services.lake_index import LakeIndex
from services.spaces import Space

router = APIRouter(prefix="/spaces/{space_name}/fhir", route_class=FhirRoute)

_INCLUDES = {"ImagingStudy:subject", "ImagingStudy:patient"}


class _Ctx:
    """What a FHIR route needs of its request: the space, the index, the systems, its base URL."""

    def __init__(self, request: Request) -> None:
        space: Space | None = request.state.space
        if space is None:  # the guard always sets it; never serve without it
            raise ServiceError(403, "the token does not open this space")
        if not space.identified:
            raise ServiceError(403, "FHIR serves identified spaces only: this space is pseudonymized")
        settings = request.app.state.settings
        self.request = request
        self.space = space
        self.index: LakeIndex = request.app.state.lake_index
        self.systems = Systems(settings.serve.fhir_base_uri)
        self.tz = ZoneInfo(settings.timezone)
        self.default_limit = settings.serve.default_limit
        self.max_limit = settings.serve.max_limit
        root = str(request.base_url).rstrip("/")
        self.base = f"{root}/spaces/{space.name}/fhir"
        self.dicomweb = f"{root}/spaces/{space.name}/dicomweb/"
        self.params = Params(list(request.query_params.multi_items()))

    def full_url(self, resource: dict[str, Any]) -> str:
        return f"{self.base}/{resource['resourceType']}/{resource['id']}"

    def bundle(
        self, path: str, total: int, count: int, offset: int, entries: list[tuple[dict[str, Any], str]]
    ) -> Response:
        """A searchset of this page, with the next page's link while there is one."""
        kept = [(k, v) for k, v in self.params.items if k != "_offset"]
        links = [{"relation": "self", "url": f"{self.base}/{path}?{urlencode(self.params.items)}"}]
        if offset + count < total and count > 0:
            links.append(
                {"relation": "next", "url": f"{self.base}/{path}?{urlencode([*kept, ('_offset', offset + count)])}"}
            )
        self.request.state.result_count = len(entries)
        body = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": links,
            "entry": [{"fullUrl": self.full_url(r), "resource": r, "search": {"mode": mode}} for r, mode in entries],
        }
        if not entries:
            del body["entry"]
        return fhir_response(body)

    def one(self, resource: dict[str, Any]) -> Response:
        self.request.state.result_count = 1
        return fhir_response(resource)


# --- Patient --------------------------------------------------------------------------------------------------------


def _patients(ctx: _Ctx, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Patient resources of these person rows (each carries its identifiers and the ids merged into it)."""
    limit = ctx.space.config.institutions
    return [
        res.patient(
            p,
            [i for i in p["idents"] if not (limit and i["kind"] == "mrn" and i["institution"] not in limit)],
            p["replaces"],  # a space of some institutions sees only their MRNs
            ctx.systems,
        )
        for p in people
    ]


def _person_rows(cur: duckdb.DuckDBPyConnection, ids: list[str]) -> list[dict[str, Any]]:
    sql, args = in_list("empi_id", ids)
    return rows(cur, f"SELECT * FROM person WHERE {sql} ORDER BY empi_id", args)


def _counted(
    cur: duckdb.DuckDBPyConnection, query: Callable[[str, str], tuple[str, list[Any]]], tail: str
) -> tuple[int, list[dict[str, Any]]]:
    """(how many rows ``query`` finds, the page ``tail`` picks of them); ``query(select, tail)`` → (sql, args).

    One query while the page has rows (the window counts before the limit applies), two when it is past the end.
    """
    page = rows(cur, *query("*, count(*) OVER () AS _total", tail))
    if not page:
        sql, args = query("count(*)", "")
        return int(cur.execute(sql, args).fetchone()[0]), []  # type: ignore[index]
    total = page[0]["_total"]
    for row in page:
        del row["_total"]
    return int(total), page


def _persons_meeting(cur: duckdb.DuckDBPyConnection, ids: set[str], where: list[str], args: list[Any]) -> list[str]:
    """The ids of ``ids`` that are persons and meet ``where``, sorted."""
    if not ids:
        return []
    key = in_list("empi_id", sorted(ids))
    sql = by_key("person", key, "empi_id", " AND ".join(where) or "TRUE")
    return [r[0] for r in cur.execute(f"{sql} ORDER BY empi_id", [*key[1], *args]).fetchall()]


@router.get("/Patient/{patient_id}")
def read_patient(request: Request, patient_id: str) -> Response:
    """A person's golden record; a merged-away id answers an inactive Patient linked to its survivor."""
    ctx = _Ctx(request)
    with ctx.index.cursor() as cur:
        finder = PersonFinder(cur, ctx.systems, ctx.space)
        survivor = finder.resolve(patient_id)
        if not finder.visible({survivor}) or not _person_rows(cur, [survivor]):
            raise ServiceError(404, "no such Patient")
        if survivor != patient_id:
            return ctx.one(res.merged_patient(patient_id, survivor))
        return ctx.one(_patients(ctx, _person_rows(cur, [survivor]))[0])


@router.get("/Patient")
def search_patients(request: Request) -> Response:
    """Patient search: ``_id``, ``identifier``, ``name`` (prefix; ``:exact``, ``:contains``), ``phone``,
    ``birthdate``, ``gender``."""
    ctx = _Ctx(request)
    with ctx.index.cursor() as cur:
        finder = PersonFinder(cur, ctx.systems, ctx.space)
        where, args = person_filters(ctx.params)
        name = None if ctx.space.config.institutions else only_name(ctx.params)
        ids, checked = (None, False) if name else person_ids(finder, ctx.params, where, args)
        count, offset = page_size(ctx.params, ctx.default_limit, ctx.max_limit)
        ctx.params.refuse_unknown()
        if name is not None:
            # By name alone: the range of the sorted name table holds both the count and the page's rows.
            cond, a = name_condition(*name)
            cond = " AND ".join([cond, *where])
            total, page = _counted(
                cur,
                lambda select, tail: (f"SELECT {select} FROM person_name WHERE {cond} {tail}", [*a, *args]),
                f"ORDER BY empi_id LIMIT {count} OFFSET {offset}",
            )
            if total > MAX_CANDIDATES:
                raise SearchError(f"the search matches more than {MAX_CANDIDATES:,} persons: narrow it", 413)
        elif ids is not None:
            # A search that names persons: the ids are few, or a name range already checked them (see
            # person_ids); only the page's rows are read.
            matched = sorted(ids) if checked else _persons_meeting(cur, ids, where, args)
            total = len(matched)
            page = _person_rows(cur, matched[offset : offset + count])
        else:
            if ctx.space.config.institutions:
                sql, a = in_list("institution", ctx.space.config.institutions)
                where.append(f"empi_id IN (SELECT empi_id FROM ident WHERE kind = 'mrn' AND {sql})")
                args += a
            cond = " AND ".join(where) or "TRUE"
            total = int(cur.execute(f"SELECT count(*) FROM person WHERE {cond}", args).fetchone()[0])  # type: ignore[index]
            page = rows(cur, f"SELECT * FROM person WHERE {cond} ORDER BY empi_id LIMIT {count} OFFSET {offset}", args)
        entries = [(p, "match") for p in _patients(ctx, page)]
    return ctx.bundle("Patient", total, count, offset, entries)


# --- ImagingStudy and DiagnosticReport --------------------------------------------------------------------------


def _imaging_query(
    ctx: _Ctx, select: str, tail: str = "", *, extra: list[str], args: list[Any], key: tuple[str, list[Any]] | None
) -> tuple[str, list[Any]]:
    """``SELECT select`` from the space's imaging rows meeting ``extra``; ``key``: a condition on one indexed
    column (empi_id, study_uid, report_id) that finds the few rows first (see :func:`by_key`)."""
    where, more = space_clause(ctx.space)
    cond = " AND ".join([*extra, *where]) or "TRUE"
    if key is None:
        return f"SELECT {select} FROM imaging WHERE {cond}{tail}", [*args, *more]
    return by_key("imaging", key, select, cond) + tail, [*key[1], *args, *more]


def _persons_key(persons: set[str] | None) -> tuple[str, list[Any]] | None:
    return None if persons is None else in_list("empi_id", sorted(persons))


def _studies(ctx: _Ctx, cur: duckdb.DuckDBPyConnection, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ImagingStudy resources of imaging rows with a study, with their series (one query per page)."""
    uids = [r["study_uid"] for r in page if r["has_study"]]
    series: dict[str, list[dict[str, Any]]] = {}
    if uids:
        sql, args = in_list("study_instance_uid", uids)
        for s in rows(cur, f"SELECT * FROM series WHERE {sql}", args):
            series.setdefault(s["study_instance_uid"], []).append(s)
    return [
        res.imaging_study(r, series.get(r["study_uid"], []), ctx.dicomweb, ctx.systems, ctx.tz)
        for r in page
        if r["has_study"]
    ]


@router.get("/ImagingStudy/{study_id}")
def read_study(request: Request, study_id: str) -> Response:
    """One study by its id (the Study Instance UID)."""
    ctx = _Ctx(request)
    with ctx.index.cursor() as cur:
        sql, args = _imaging_query(
            ctx, "*", " LIMIT 1", extra=["has_study"], args=[], key=("study_uid = ?", [study_id])
        )
        found = rows(cur, sql, args)
        if not found:
            raise ServiceError(404, "no such ImagingStudy")
        return ctx.one(_studies(ctx, cur, found)[0])


@router.get("/ImagingStudy")
def search_studies(request: Request) -> Response:
    """ImagingStudy search: ``patient``/``subject``, chained ``patient.identifier`` and
    ``subject:Patient.identifier``, ``started``, ``modality``, ``identifier``, ``_id``, ``_include``; newest first."""
    ctx = _Ctx(request)
    includes = set(ctx.params.get("_include"))
    if includes - _INCLUDES:
        raise SearchError(f"unsupported _include: {sorted(includes - _INCLUDES)[0][:60]}")
    with ctx.index.cursor() as cur:
        finder = PersonFinder(cur, ctx.systems, ctx.space)
        where, args, persons = imaging_filters(finder, ctx.params, ctx.tz, ctx.systems)
        count, offset = page_size(ctx.params, ctx.default_limit, ctx.max_limit)
        ctx.params.refuse_unknown()
        key = _persons_key(persons)
        total, page = _counted(
            cur,
            partial(_imaging_query, ctx, extra=["has_study", *where], args=args, key=key),
            f" ORDER BY started DESC NULLS LAST, study_uid LIMIT {count} OFFSET {offset}",
        )
        entries = [(s, "match") for s in _studies(ctx, cur, page)]
        if includes:
            subjects = sorted({r["empi_id"] for r in page if r["empi_id"]})
            entries += [(p, "include") for p in _patients(ctx, _person_rows(cur, subjects))]
    return ctx.bundle("ImagingStudy", total, count, offset, entries)


@router.get("/DiagnosticReport/{report_id}")
def read_report(request: Request, report_id: str) -> Response:
    """One report by its id (``<institution>-<accession>``)."""
    ctx = _Ctx(request)
    with ctx.index.cursor() as cur:
        sql, args = _imaging_query(
            ctx, "*", " LIMIT 1", extra=[REPORTED_SQL], args=[], key=("report_id = ?", [report_id])
        )
        found = rows(cur, sql, args)
    if not found:
        raise ServiceError(404, "no such DiagnosticReport")
    return ctx.one(res.diagnostic_report(found[0], ctx.systems, ctx.tz))


@router.get("/DiagnosticReport")
def search_reports(request: Request) -> Response:
    """DiagnosticReport search: ``patient``/``subject``, ``identifier`` (accession), ``_id``; newest first."""
    ctx = _Ctx(request)
    with ctx.index.cursor() as cur:
        finder = PersonFinder(cur, ctx.systems, ctx.space)
        where, args, persons = imaging_filters(finder, _only(ctx.params, ("patient", "subject")), ctx.tz, ctx.systems)
        for value in ctx.params.get("_id"):
            sql, a = in_list("report_id", value.split(","))
            where.append(sql)
            args += a
        for value in ctx.params.get("identifier"):
            where.append("accession = ?")
            args.append(value.rpartition("|")[2])
        count, offset = page_size(ctx.params, ctx.default_limit, ctx.max_limit)
        ctx.params.refuse_unknown()
        key = _persons_key(persons)
        total, page = _counted(
            cur,
            partial(_imaging_query, ctx, extra=[REPORTED_SQL, *where], args=args, key=key),
            f" ORDER BY started DESC NULLS LAST, report_id LIMIT {count} OFFSET {offset}",
        )
    entries = [(res.diagnostic_report(r, ctx.systems, ctx.tz), "match") for r in page]
    return ctx.bundle("DiagnosticReport", total, count, offset, entries)


def _only(params: Params, names: tuple[str, ...]) -> Params:
    """The same parameters, where the imaging filters read only ``names`` (marked used on the original)."""
    for name in names:
        params.get(name)
    return Params([(k, v) for k, v in params.items if k in names])


# --- $everything ---------------------------------------------------------------------------------------------------


@router.get("/Patient/{patient_id}/$everything")
def everything(request: Request, patient_id: str) -> Response:
    """The person (a merged id answers for its survivor) and their ImagingStudies and DiagnosticReports at every
    institution, newest first; paged by ``_count``."""
    ctx = _Ctx(request)
    with ctx.index.cursor() as cur:
        finder = PersonFinder(cur, ctx.systems, ctx.space)
        survivor = finder.resolve(patient_id)
        people = _person_rows(cur, [survivor]) if finder.visible({survivor}) else []
        if not people:
            raise ServiceError(404, "no such Patient")
        count, offset = page_size(ctx.params, ctx.max_limit, ctx.max_limit)
        ctx.params.refuse_unknown()
        order = " ORDER BY started DESC NULLS LAST, study_uid"
        found = rows(
            cur,
            *_imaging_query(
                ctx, "*", order, extra=[f"(has_study OR ({REPORTED_SQL}))"], args=[], key=("empi_id = ?", [survivor])
            ),
        )
        studies = {s["id"]: s for s in _studies(ctx, cur, found)}
        resources: list[dict[str, Any]] = _patients(ctx, people)
        for row in found:
            if row["has_study"]:
                resources.append(studies[res.fhir_id(row["study_uid"])])
            if row["report_status"] in res.REPORTED and row["report_id"]:
                resources.append(res.diagnostic_report(row, ctx.systems, ctx.tz))
    page = [(r, "match") for r in resources[offset : offset + count]]
    return ctx.bundle(f"Patient/{patient_id}/$everything", len(resources), count, offset, page)


@router.get("/metadata")
def capabilities(request: Request) -> Response:
    """The CapabilityStatement: what this server reads and searches."""
    ctx = _Ctx(request)
    ctx.params.refuse_unknown()

    def resource(kind: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": n, "type": t} for n, t in params],
        }

    return ctx.one(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-07",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "implementation": {"description": "radlake FHIR (read-only, imaging)", "url": ctx.base},
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        resource("Patient", [("_id", "token"), ("identifier", "token"), ("name", "string"),
                                             ("phone", "token"), ("birthdate", "date"), ("gender", "token")]),
                        resource("ImagingStudy", [("_id", "token"), ("patient", "reference"),
                                                  ("subject", "reference"), ("started", "date"),
                                                  ("modality", "token"), ("identifier", "token")]),
                        resource("DiagnosticReport", [("_id", "token"), ("patient", "reference"),
                                                      ("identifier", "token")]),
                    ],
                    "operation": [{"name": "everything",
                                   "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}],
                }
            ],
        }
    )  # fmt: skip


@router.get("/{rest:path}")
def unknown(request: Request, rest: str) -> Response:
    """Anything else under the FHIR root: an OperationOutcome 404 (after the space checks)."""
    _Ctx(request)
    raise ServiceError(404, "no such FHIR resource type or operation")
