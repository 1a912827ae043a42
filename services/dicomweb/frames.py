"""The WADO-RS pixel routes of a space: frames and rendered images (what a viewer such as OHIF draws).

Same guard, audit and space rules as the other DICOMweb routes (the stored file is checked against its landed
checksum; a de-identified space is refused pixels the export would quarantine). Included into
:data:`services.dicomweb.router.router`, whose prefix it takes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.dicomweb.pixels import RENDERED_TYPES, frames, parse_frame_list, parse_window, rendered
from services.dicomweb.router import multipart, stored_instance
from services.errors import ServiceError

router = APIRouter()
_INSTANCE = "/studies/{study}/series/{series}/instances/{instance}"


def _max_bytes(request: Request) -> int:
    return int(request.app.state.settings.serve.max_frame_bytes)


@router.get(_INSTANCE + "/frames/{frame_list}")
def retrieve_frames(request: Request, study: str, series: str, instance: str, frame_list: str) -> Response:
    """WADO-RS: frames as stored, ``multipart/related`` of ``application/octet-stream`` (native) or of the
    transfer syntax's image type (encapsulated)."""
    numbers = parse_frame_list(frame_list)
    ds = stored_instance(request, study, series, instance)
    found = frames(ds, numbers, _max_bytes(request))
    accept = request.headers.get("accept", "")
    if accept and "*/*" not in accept and 'type="*' not in accept and found.media_type not in accept:
        raise ServiceError(406, f"these frames are served as {found.media_type} (transfer syntax as stored)")
    content_type = found.media_type
    if found.media_type != "application/octet-stream":
        content_type += f"; transfer-syntax={found.transfer_syntax}"
    request.state.result_count = len(found.parts)
    return multipart(found.media_type, [(content_type, p) for p in found.parts])


def _rendered(request: Request, study: str, series: str, instance: str, number: int) -> Response:
    accept = request.headers.get("accept", "") or "image/jpeg"
    wanted = next((t for t in RENDERED_TYPES if t in accept), None)
    if wanted is None and ("*/*" in accept or "image/*" in accept):
        wanted = "image/jpeg"
    if wanted is None:
        raise ServiceError(406, "rendered images are served as image/jpeg or image/png")
    window = parse_window(request.query_params.get("window"))
    ds = stored_instance(request, study, series, instance)
    return Response(rendered(ds, number, wanted, _max_bytes(request), window), media_type=wanted)


@router.get(_INSTANCE + "/rendered")
def retrieve_rendered(request: Request, study: str, series: str, instance: str) -> Response:
    """WADO-RS: the instance's first frame rendered (JPEG by default, PNG when asked)."""
    return _rendered(request, study, series, instance, 1)


@router.get(_INSTANCE + "/frames/{frame_list}/rendered")
def retrieve_frame_rendered(request: Request, study: str, series: str, instance: str, frame_list: str) -> Response:
    """WADO-RS: one frame rendered."""
    numbers = parse_frame_list(frame_list)
    if len(numbers) != 1:
        raise ServiceError(400, "a rendered frame is one frame number")
    return _rendered(request, study, series, instance, numbers[0])
