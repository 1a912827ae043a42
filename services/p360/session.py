"""How a clinician's browser carries its space token: a login form that sets an HttpOnly, SameSite=Strict cookie.

A browser cannot send an ``Authorization`` header on a link or a form, and a token in a URL would end up in
history and proxy logs. So the login form posts the token once; the answer stores it in a cookie that
scripts cannot read (HttpOnly), that no other site's page can make the browser send (SameSite=Strict), that
only the space's own paths receive (Path), and that is Secure whenever the page came over HTTPS (the TLS
proxy sets ``X-Forwarded-Proto``). The guard accepts the cookie for safe methods (GET, HEAD) of the pages
and the DICOMweb links they show, never for FHIR and never for a state-changing method: the only POSTs
(login, logout) check that the request comes from this origin, so another site cannot log a browser in or
out either.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

COOKIE = "radlake_space_token"
COOKIE_SERVICES = frozenset({"p360", "dicomweb"})
"""Services whose GETs accept the cookie (the page and the metadata links on it)."""
MAX_AGE_SECONDS = 8 * 3600  # one working shift


def cookie_token(request: Request, service: str) -> str | None:
    """The token from the cookie, when this request may use it (a safe method of a cookie service)."""
    if service not in COOKIE_SERVICES or request.method not in ("GET", "HEAD"):
        return None
    return request.cookies.get(COOKIE) or None


def same_origin(request: Request) -> bool:
    """Whether a POST comes from a page of this service (Origin, else Referer, must name this host)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return False
    parts = urlsplit(claimed)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


def set_token_cookie(request: Request, response: Response, space: str, token: str) -> None:
    """Keep the token in the browser for this space's paths (see the module docstring)."""
    secure = request.headers.get("x-forwarded-proto", request.url.scheme) == "https"
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE_SECONDS,
        path=f"/spaces/{space}/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_token_cookie(response: Response, space: str) -> None:
    """Forget the token (logout)."""
    response.delete_cookie(COOKIE, path=f"/spaces/{space}/", httponly=True, samesite="strict")
