"""The data services (``radlake serve``): DICOMweb, FHIR and the patient 360 page, per data space.

An upper layer beside ``orchestration/``: it reads the lake and the warehouses through the layers below and
never imports orchestration. Every route denies by default (a bearer token bound to the space), is rate
limited per token, and writes one row to ``audit/service_requests``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from services.app import create_app
    from services.auth import TokenStore, issue_token
    from services.serving import serve
    from services.spaces import Space, resolve_space

__all__ = [
    "Space",
    "TokenStore",
    "create_app",
    "issue_token",
    "resolve_space",
    "serve",
]

__getattr__ = lazy_face(
    __name__,
    {
        "Space": "spaces",
        "TokenStore": "auth",
        "create_app": "app",
        "issue_token": "auth",
        "resolve_space": "spaces",
        "serve": "serving",
    },
)
