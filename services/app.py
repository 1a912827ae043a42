"""The services' app factory: one FastAPI app, guarded by one middleware that every route passes through.

The guard runs before any route: a path outside ``/spaces/{space}/...`` and the health check is 404; a
request without a valid bearer token for that space is 401/403; a token over its rate is 429. So a route
added later cannot forget to check access: it never sees an unchecked request. The same middleware writes
the audit row of every request, refused ones included, with the result count a route leaves in
``request.state.result_count``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse

from radlake.config import Settings
from services.audit import RequestAudit
from services.auth import RateLimiter, TokenStore
from services.errors import ServiceError, error_response, handle_service_error
from services.lake_index import LakeIndex
from services.p360 import cookie_token
from services.spaces import resolve_space

_SPACE_PATH = re.compile(r"^/spaces/([^/]+)/([a-z0-9]+)(?:/|$)")
PUBLIC_PATHS = frozenset({"/health"})
# The patient 360 page's login and logout forms and its style sheet: reachable without a token (the login
# checks the token it is given itself); still audited and still under the security headers.
_LOGIN_PATH = re.compile(r"^/spaces/[^/]+/p360/(?:login|logout|p360\.css)$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # Pages are served with their scripts and styles from this service only (offline hospitals).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}

Handler = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings, *, audit: RequestAudit | None = None) -> FastAPI:
    """The service for these settings: every configured space's routes behind the guard.

    Parameters
    ----------
    settings
        The loaded config (spaces, serve limits, lake).
    audit
        Where audit rows go; a new :class:`RequestAudit` on the lake by default (tests pass their own to flush).
    """
    tokens = TokenStore(settings)
    limiter = RateLimiter(settings.serve.rate_per_minute)
    audit_log = audit or RequestAudit(settings)
    lake_index = LakeIndex(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        audit_log.start()
        lake_index.start()  # FHIR's and the patient 360 page's copy of silver, kept fresh in the background
        try:
            yield
        finally:
            lake_index.close()
            audit_log.close()

    app = FastAPI(title="radlake data services", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.audit = audit_log
    app.state.lake_index = lake_index
    app.state.tokens = tokens
    app.add_exception_handler(ServiceError, handle_service_error)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.middleware("http")
    async def guard(request: Request, call_next: Handler) -> Response:
        started = time.perf_counter()
        request.state.result_count = None
        request.state.reason = None
        request.state.token_id = None
        request.state.space = None
        match = _SPACE_PATH.match(request.url.path)
        service = match.group(2) if match else "none"
        if request.url.path in PUBLIC_PATHS:
            return await call_next(request)
        try:
            if match is None:
                raise ServiceError(404, "no such resource")
            if not _LOGIN_PATH.match(request.url.path):
                _authorize(request, match.group(1), service, tokens, limiter, settings)
            response = await call_next(request)
        except ServiceError as exc:
            request.state.reason = exc.reason
            response = error_response(exc.status, exc.reason, exc.headers)
            if exc.status == 401 and service == "p360" and match is not None:
                # A browser without (or with an expired) token cookie goes to the login form instead.
                response = RedirectResponse(f"/spaces/{match.group(1)}/p360/login", status_code=303)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        audit_log.record(
            token_id=request.state.token_id,
            space=match.group(1)[:40] if match else None,
            service=service,
            method=request.method,
            path=request.url.path,
            params=request.url.query,
            status=response.status_code,
            result_count=request.state.result_count,
            duration_ms=(time.perf_counter() - started) * 1000,
            client=request.client.host if request.client else None,
            reason=request.state.reason,
        )
        return response

    for router in _routers():
        app.include_router(router)
    return app


def _authorize(
    request: Request, space_name: str, service: str, tokens: TokenStore, limiter: RateLimiter, settings: Settings
) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        # A browser on the patient 360 page: its login left the token in an HttpOnly cookie (GETs only).
        scheme, token = "bearer", cookie_token(request, service) or ""
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    record = tokens.lookup(token.strip())
    if record is None:
        raise ServiceError(401, "the token is not valid", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.token_id = record.token_id
    space = resolve_space(settings, space_name)
    # One answer for "no such space" and "not your space": a token must not learn which spaces exist.
    if space is None or space.name not in record.spaces:
        raise ServiceError(403, "the token does not open this space")
    wait = limiter.allow(record.token_id)
    if wait > 0:
        raise ServiceError(429, "too many requests for this token", {"Retry-After": str(max(1, round(wait)))})
    request.state.space = space


def _routers() -> list[APIRouter]:
    """Each service's router, mounted under ``/spaces/{space}/<service>/`` (added as services land)."""
    from services import fhir, p360
    from services.dicomweb import router as dicomweb

    return [dicomweb, fhir.router, p360.router]
