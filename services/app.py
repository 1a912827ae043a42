"""The services' app factory: one FastAPI app, behind one guard that every request passes through.

The guard (:class:`services.guard.Guard`) runs before any route: it checks the path, the bearer token, the
space and the rate, adds the security headers and queues the audit row of every request, refused ones
included. So a route added later cannot forget to check access: it never sees an unchecked request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response

from radlake.config import Settings
from services.audit import RequestAudit
from services.auth import RateLimiter, TokenStore
from services.errors import ServiceError, handle_service_error
from services.guard import Guard
from services.lake_index import LakeIndex


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
            audit_log.close()  # lands every row still queued: a request that was answered is audited

    app = FastAPI(
        title="radlake data services",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # No OpenTelemetry: nothing here exports it (hospitals run offline), and FastAPI would otherwise look
        # for configured providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.audit = audit_log
    app.state.lake_index = lake_index
    app.state.tokens = tokens
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_middleware(Guard, settings=settings, tokens=tokens, limiter=limiter, audit=audit_log)

    @app.get("/health", include_in_schema=False)
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    for router in _routers():
        app.include_router(router)
    return app


def _routers() -> list[APIRouter]:
    """Each service's router, mounted under ``/spaces/{space}/<service>/`` (added as services land)."""
    from services import fhir, p360
    from services.dicomweb import router as dicomweb

    return [dicomweb, fhir.router, p360.router]
