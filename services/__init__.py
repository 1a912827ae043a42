"""The data services (``radlake serve``): DICOMweb, FHIR and the patient 360 page, per data space.

An upper layer beside ``orchestration/``: it reads the lake and the warehouses through the layers below and
never imports orchestration. Every route denies by default (a bearer token bound to the space), is rate
limited per token, and writes one row to ``audit/service_requests``.
"""

from services.app import create_app
from services.auth import TokenStore, issue_token
from services.spaces import Space, resolve_space

__all__ = ["Space", "TokenStore", "create_app", "issue_token", "resolve_space"]
