"""WADO-RS frames and rendered images from one stored instance, one frame at a time (no I/O).

Frames (PS3.18 8.7.3): a native frame is its slice of Pixel Data, sent as ``application/octet-stream``; an
encapsulated one is its compressed bytes, sent as the transfer syntax's image type (``image/jpeg``,
``image/jls``, ``image/jp2``...). Nothing is decoded for frames. A rendered image (PS3.18 8.3.5.1) decodes one
frame: the Modality LUT (rescale), then the window the header gives (or the one the request names, else the
frame's range), MONOCHROME1 inverted, to 8 bits, as JPEG or PNG. A frame whose decoded size is over the
configured bound is refused before anything is decoded.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, pixel_array

from services.errors import ServiceError

OCTET = "application/octet-stream"
ENCAPSULATED_TYPES = {  # PS3.18 Table 8.7.3-5: the media type of a compressed frame, by transfer syntax
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/x-dicom-rle",
}
NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"})
RENDERED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
_FRAME_LIST = re.compile(r"[1-9][0-9]{0,5}(,[1-9][0-9]{0,5}){0,99}")
_WINDOW = re.compile(r"(-?[0-9]+(\.[0-9]+)?),([0-9]+(\.[0-9]+)?),(linear|linear-exact|sigmoid)")


@dataclass(frozen=True)
class Frames:
    """Frames of one instance as sent: their media type, transfer syntax and bytes (in the order asked)."""

    media_type: str
    transfer_syntax: str
    parts: list[bytes]


def parse_frame_list(text: str) -> list[int]:
    """``"1,3,2"`` → ``[1, 3, 2]`` (one-based, at most 100 numbers); 400 for anything else."""
    if not _FRAME_LIST.fullmatch(text):
        raise ServiceError(400, "frames are a comma-separated list of 1 to 100 positive frame numbers")
    return [int(n) for n in text.split(",")]


def _syntax(ds: Dataset) -> str:
    return str(ds.file_meta.get("TransferSyntaxUID", "") or "1.2.840.10008.1.2.1")


def _count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _decoded_size(ds: Dataset) -> int:
    bits = int(ds.get("BitsAllocated", 8) or 8)
    return int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1) * max(bits, 8) // 8


def _checked(ds: Dataset, numbers: list[int], max_frame_bytes: int) -> None:
    if "PixelData" not in ds or "Rows" not in ds or "Columns" not in ds:
        raise ServiceError(404, "this instance has no pixel data")
    count = _count(ds)
    beyond = [n for n in numbers if n > count]
    if beyond:
        raise ServiceError(404, f"frame {beyond[0]} is beyond the instance's {count} frames")
    if _decoded_size(ds) > max_frame_bytes:
        raise ServiceError(413, f"a frame of this instance is larger than the configured {max_frame_bytes} bytes")


def frames(ds: Dataset, numbers: list[int], max_frame_bytes: int) -> Frames:
    """The requested frames' bytes as stored (never decoded).

    Raises
    ------
    ServiceError
        404 no pixel data or a frame beyond the instance; 413 a frame over ``max_frame_bytes``; 406 a native
        frame of less than 8 bits (packed bits cannot be cut per frame here).
    """
    _checked(ds, numbers, max_frame_bytes)
    syntax = _syntax(ds)
    data = ds.PixelData
    if syntax in NATIVE_SYNTAXES:
        if int(ds.get("BitsAllocated", 8) or 8) < 8:
            raise ServiceError(406, "frames of 1-bit pixel data are not served; retrieve the instance")
        size = _decoded_size(ds)
        return Frames(OCTET, syntax, [bytes(data[(n - 1) * size : n * size]) for n in numbers])
    count = _count(ds)
    parts = [get_frame(data, n - 1, number_of_frames=count) for n in numbers]
    return Frames(ENCAPSULATED_TYPES.get(syntax, OCTET), syntax, parts)


def parse_window(text: str | None) -> tuple[float, float] | None:
    """The ``window`` parameter (``center,width,function``) as (center, width); 400 when malformed."""
    if text is None:
        return None
    match = _WINDOW.fullmatch(text)
    if match is None or float(match.group(3)) <= 0:
        raise ServiceError(400, "window is center,width,function with a positive width (function: linear)")
    return float(match.group(1)), float(match.group(3))


def _first(value: Any) -> float | None:
    """The first of a (possibly multi-valued) number, or None."""
    if isinstance(value, MultiValue | list | tuple):
        value = next(iter(value), None)
    return None if value is None or value == "" else float(value)


def _window(ds: Dataset, values: np.ndarray, asked: tuple[float, float] | None) -> tuple[float, float]:
    if asked is not None:
        return asked
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        return center, width
    low, high = float(values.min()), float(values.max())
    return (low + high) / 2, max(high - low, 1.0)


def to_8bit(ds: Dataset, pixels: np.ndarray, asked: tuple[float, float] | None) -> np.ndarray:
    """One decoded frame as 8-bit display values: rescale, window (PS3.3 C.11.2.1.2 linear), MONOCHROME1 inverted."""
    if int(ds.get("SamplesPerPixel", 1) or 1) > 1:
        if pixels.dtype == np.uint8:
            return pixels
        top = float(2 ** int(ds.get("BitsStored", 8) or 8) - 1)
        return np.clip(pixels.astype(np.float64) / top * 255.0, 0, 255).astype(np.uint8)
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    center, width = _window(ds, values, asked)
    scaled = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0 if width > 1 else (values >= center) * 255.0
    out = np.clip(scaled, 0, 255).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        out = 255 - out
    return out


def rendered(
    ds: Dataset, number: int, media_type: str, max_frame_bytes: int, window: tuple[float, float] | None = None
) -> bytes:
    """One frame decoded and encoded as ``image/jpeg`` or ``image/png`` (see the module docstring).

    Raises
    ------
    ServiceError
        As :func:`frames`; 406 a media type other than JPEG or PNG; 422 pixel data that cannot be decoded here.
    """
    from PIL import Image

    if media_type not in RENDERED_TYPES:
        raise ServiceError(406, "rendered images are served as image/jpeg or image/png")
    _checked(ds, [number], max_frame_bytes)
    try:
        pixels = pixel_array(ds, index=number - 1 if _count(ds) > 1 else None)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        raise ServiceError(422, f"the pixel data cannot be decoded here ({type(exc).__name__})") from None
    image = Image.fromarray(to_8bit(ds, pixels, window))
    out = io.BytesIO()
    image.save(out, format=RENDERED_TYPES[media_type], **({"quality": 90} if media_type == "image/jpeg" else {}))
    return out.getvalue()
