"""The patient 360 page's routes under ``/spaces/{space}/p360/``: login, search, one person's exams.

Identified spaces only (the page shows names and IDs). A search by name, phone, resident ID, master index id or
MRN finds persons through the same keys as FHIR; a person's page lists every order and study of theirs at
every institution the space sees.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.errors import ServiceError
from services.fhir import PersonFinder, SearchError, Systems, by_key, in_list, rows, space_clause
from services.lake_index import LakeIndex
from services.p360 import page
from services.p360.session import clear_token_cookie, same_origin, set_token_cookie
from services.spaces import Space, resolve_space

router = APIRouter(prefix="/spaces/{space_name}/p360")

_EMPI = re.compile(r"^E\d{10}$")
_RESIDENT = re.compile(r"^\d{17}[\dXx]$")
_PHONE = re.compile(r"^\+?\d{7,15}$")
_MAX_PEOPLE = 200


def _space(request: Request) -> Space:
    space: Space | None = request.state.space
    if space is None:
        raise ServiceError(403, "the token does not open this space")
    if not space.identified:
        raise ServiceError(403, "the patient 360 page serves identified spaces only")
    return space


def _html(request: Request, text: str, count: int | None = None, status: int = 200) -> HTMLResponse:
    request.state.result_count = count
    # same-origin, not the services' no-referrer: with no-referrer a browser posts the forms with "Origin: null",
    # and the login and logout check the Origin (CSRF). Other sites still get no referrer.
    return HTMLResponse(text, status_code=status, headers={"Referrer-Policy": "same-origin"})


@router.get("/p360.css")
def stylesheet() -> Response:
    """The page's one style sheet (the services' CSP allows styles from this origin only)."""
    return Response(page.STYLE, media_type="text/css; charset=utf-8")


@router.get("/login")
def login_form(request: Request, space_name: str) -> HTMLResponse:
    """The token form."""
    return _html(request, page.login_page(space_name))


@router.post("/login")
async def login(request: Request, space_name: str) -> Response:
    """Check the token against the space; on success keep it in the HttpOnly cookie and go to the search."""
    if not same_origin(request):
        raise ServiceError(403, "the login form must be posted from this service's own page")
    token = await _form_token(request)
    record = request.app.state.tokens.lookup(token.strip())
    space = resolve_space(request.app.state.settings, space_name)
    if record is None or space is None or space.name not in record.spaces:
        request.state.reason = "login refused: the token is not valid for this space"
        return _html(request, page.login_page(space_name, failed=True), status=401)
    request.state.token_id = record.token_id
    response = RedirectResponse(f"/spaces/{space.name}/p360/", status_code=303)
    set_token_cookie(request, response, space.name, token.strip())
    return response


async def _form_token(request: Request) -> str:
    """The ``token`` field of a small url-encoded form (a body past 4 KiB is refused unread)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ServiceError(415, "the login form is posted url-encoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            raise ServiceError(413, "the login form is too large")
    values = parse_qs(body.decode("utf-8", "replace")).get("token", [""])
    return values[0][:200]


@router.post("/logout")
def logout(request: Request, space_name: str) -> Response:
    """Forget the cookie (from this origin only)."""
    if not same_origin(request):
        raise ServiceError(403, "the logout form must be posted from this service's own page")
    response = RedirectResponse(f"/spaces/{space_name}/p360/login", status_code=303)
    clear_token_cookie(response, space_name)
    return response


def _find(finder: PersonFinder, query: str, by: str) -> set[str]:
    if by == "auto":
        by = (
            "empi" if _EMPI.match(query)
            else "resident" if _RESIDENT.match(query)
            else "phone" if _PHONE.match(query)
            else "name"
        )  # fmt: skip
    if by == "name":
        return finder.by_name(query, "")
    if by == "phone":
        return finder.by_phone(query)
    if by == "empi":
        return {finder.resolve(query)}
    system = finder.systems.resident_id if by == "resident" else ""
    ids = finder.by_identifier(f"{system}|{query}" if by == "resident" else query)
    return ids if system or by == "mrn" else set()


@router.get("/")
def search(request: Request, space_name: str, q: str = "", by: str = "auto") -> HTMLResponse:
    """The search form; with ``q``, the persons it finds (at most 200)."""
    space = _space(request)
    query = q.strip()[:100]
    if by not in ("auto", "name", "phone", "resident", "empi", "mrn"):
        by = "auto"
    if not query:
        return _html(request, page.search_page(space.name, "", by, None))
    index: LakeIndex = request.app.state.lake_index
    with index.cursor() as cur:
        finder = PersonFinder(cur, Systems(request.app.state.settings.serve.fhir_base_uri), space)
        try:
            ids = finder.visible(_find(finder, query, by))
        except SearchError:
            ids = set()
        people = _people(cur, sorted(ids)[:_MAX_PEOPLE], space)
    return _html(request, page.search_page(space.name, query, by, people), len(people))


def _people(cur: Any, ids: list[str], space: Space) -> list[dict[str, Any]]:
    """The found persons with how many MRNs and exams each has (exams: what the space sees), by name."""
    if not ids:
        return []
    key = in_list("empi_id", ids)
    people = rows(cur, f"SELECT * FROM person WHERE {key[0]} ORDER BY name, empi_id", key[1])
    where, args = space_clause(space)
    sql = by_key("imaging", key, "empi_id, count(*)", " AND ".join(where) or "TRUE") + " GROUP BY empi_id"
    exams = dict(cur.execute(sql, [*key[1], *args]).fetchall())
    for p in people:
        p["records"] = sum(1 for i in p["idents"] if i["kind"] == "mrn")
        p["exams"] = exams.get(p["empi_id"], 0)
    return people


@router.get("/person/{empi_id}")
def person(request: Request, space_name: str, empi_id: str) -> Response:
    """One person's golden record and exams (a merged-away id redirects to the person it now is)."""
    space = _space(request)
    index: LakeIndex = request.app.state.lake_index
    with index.cursor() as cur:
        finder = PersonFinder(cur, Systems(request.app.state.settings.serve.fhir_base_uri), space)
        survivor = finder.resolve(empi_id)
        if survivor != empi_id:
            return RedirectResponse(f"/spaces/{space.name}/p360/person/{survivor}", status_code=303)
        found = rows(cur, "SELECT * FROM person WHERE empi_id = ?", [empi_id]) if finder.visible({empi_id}) else []
        if not found:
            raise ServiceError(404, "no such person")
        limit = space.config.institutions
        records = sorted(
            (i for i in found[0]["idents"] if i["kind"] == "mrn" and (not limit or i["institution"] in limit)),
            key=lambda i: (i["institution"] or "", i["value"]),
        )
        where, args = space_clause(space)
        sql = by_key("imaging", ("empi_id = ?", [empi_id]), "*", " AND ".join(where) or "TRUE")
        exams = rows(cur, f"{sql} ORDER BY started DESC NULLS LAST", [empi_id, *args])
    tz = ZoneInfo(request.app.state.settings.timezone)
    return _html(request, page.person_page(space.name, found[0], records, exams, tz), len(exams))
