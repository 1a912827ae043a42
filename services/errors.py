"""One error shape for every refusal of the services: a status, a one-line reason, nothing internal."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class ServiceError(Exception):
    """A refusal with an HTTP status and a reason a client can act on (never a value of the data)."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def error_response(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"status": 400, "reason": "..."}`` with the status; FHIR routes wrap the reason in an OperationOutcome."""
    return JSONResponse({"status": status, "reason": reason}, status_code=status, headers=headers)


async def handle_service_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI exception handler: the reason is also kept for the audit row."""
    assert isinstance(exc, ServiceError)
    request.state.reason = exc.reason
    return error_response(exc.status, exc.reason, exc.headers)
