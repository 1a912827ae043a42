"""The guard every request passes through: access, rate limit, security headers and the audit row.

A plain ASGI middleware rather than Starlette's ``@app.middleware("http")``: that one runs each request
through an extra task group and a memory stream per request and wraps the response in a second streaming
response, which cost more CPU than a whole DICOMweb search by UID. Here a request costs a regular-expression
match, a SHA-256 of the token, a token-bucket step and one dict queued for the audit.

A path outside ``/spaces/{space}/...`` and the health check is 404; a request without a valid bearer token
for that space is 401/403; a token over its rate is 429. So a route added later cannot forget to check
access: it never sees an unchecked request. The audit row of every request (refused ones included, and
failures, which answer 500 in the same error shape) is queued when the request ends, with the result count a
route leaves in ``request.state.result_count`` and the reason of a refusal in ``request.state.reason``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from radlake.config import Settings
from services.audit import RequestAudit
from services.auth import RateLimiter, TokenStore
from services.errors import ServiceError, error_response
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
_RAW_HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]


class Guard:
    """The ASGI middleware of :mod:`services.app` (see the module docstring).

    Parameters
    ----------
    app
        The wrapped application (FastAPI's exception handling and router).
    settings, tokens, limiter, audit
        The config (spaces), the accepted tokens, the per-token rate limit and the audit writer.
    """

    def __init__(
        self, app: ASGIApp, *, settings: Settings, tokens: TokenStore, limiter: RateLimiter, audit: RequestAudit
    ) -> None:
        self.app = app
        self.settings = settings
        self.tokens = tokens
        self.limiter = limiter
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        state: dict[str, Any] = scope.setdefault("state", {})
        state.update(result_count=None, reason=None, token_id=None, space=None)
        match = _SPACE_PATH.match(path)
        service = match.group(2) if match else "none"
        status = 0  # 0 until the answer starts

        async def send_guarded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in _RAW_HEADERS if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            try:
                if match is None:
                    raise ServiceError(404, "no such resource")
                if not _LOGIN_PATH.match(path):
                    self._authorize(Request(scope), match.group(1), service, state)
                await self.app(scope, receive, send_guarded)
            except ServiceError as exc:
                state["reason"] = exc.reason
                refusal: Response
                if exc.status == 401 and service == "p360" and match is not None:
                    # A browser without (or with an expired) token cookie goes to the login form instead.
                    refusal = RedirectResponse(f"/spaces/{match.group(1)}/p360/login", status_code=303)
                else:
                    refusal = error_response(exc.status, exc.reason, exc.headers)
                await refusal(scope, receive, send_guarded)
            except Exception:
                # A failure inside a route: the client gets the usual error shape with the security headers (the
                # server's error handler then only logs it); the audit row says 500.
                state["reason"] = "internal error"
                if status == 0:
                    await error_response(500, "internal error")(scope, receive, send_guarded)
                raise
        finally:
            client = scope.get("client")
            self.audit.record(
                token_id=state.get("token_id"),
                space=match.group(1)[:40] if match else None,
                service=service,
                method=scope["method"],
                path=path,
                params=scope.get("query_string", b"").decode("latin-1"),
                status=status or 500,
                result_count=state.get("result_count"),
                duration_ms=(time.perf_counter() - started) * 1000,
                client=client[0] if client else None,
                reason=state.get("reason"),
            )

    def _authorize(self, request: Request, space_name: str, service: str, state: dict[str, Any]) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            # A browser on the patient 360 page: its login left the token in an HttpOnly cookie (GETs only).
            scheme, token = "bearer", cookie_token(request, service) or ""
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        record = self.tokens.lookup(token.strip())
        if record is None:
            raise ServiceError(401, "the token is not valid", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        state["token_id"] = record.token_id
        space = resolve_space(self.settings, space_name)
        # One answer for "no such space" and "not your space": a token must not learn which spaces exist.
        if space is None or space.name not in record.spaces:
            raise ServiceError(403, "the token does not open this space")
        wait = self.limiter.allow(record.token_id)
        if wait > 0:
            raise ServiceError(429, "too many requests for this token", {"Retry-After": str(max(1, round(wait)))})
        state["space"] = space
