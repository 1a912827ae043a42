"""Enhanced multi-frame objects: per-frame functional groups become frame rows and a bounded summary.

An enhanced CT or MR object holds one Per-frame Functional Groups Sequence item per frame (thousands), most
of whose values repeat in every item. Landing them as DICOM JSON would store megabytes of repeated text per
instance, so :func:`summarise_per_frame` takes them out of the header: the frame values that matter become one
row per frame (:data:`FRAME_FIELDS`; bronze keeps them in the ``frames`` column, silver/dicom_frames has one
table row per frame), and the header keeps the Shared Functional Groups Sequence as it is plus, in place of the
per-frame sequence, a summary whose size does not grow with the number of frames::

    "52009230": {"vr": "SQ", "radlake:perFrameSummary": {
        "frames": 2000,                      # items of the per-frame sequence
        "constant": {...},                   # one item: every attribute whose value is the same in all frames
        "varying": ["00209113/00200032"],    # attributes (macro/attribute) whose values differ between frames
        "sideTable": "silver/dicom_frames"}}

A frame's value is its per-frame item's, else the shared groups' (orientation and pixel measures are often
shared). Pure functions of the parsed DICOM JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

PER_FRAME = "52009230"
SHARED = "52009229"
SUMMARY_KEY = "radlake:perFrameSummary"
SIDE_TABLE = "silver/dicom_frames"

MAX_VARYING = 256
"""At most this many varying attribute paths are listed (a hostile object could vary a new private tag in every
frame); ``"varyingOmitted"`` counts the rest."""

# Functional group macro sequences (tag) and the attributes read from their single item.
_POSITION = ("00209113", "00200032")  # Plane Position Sequence > Image Position (Patient)
_ORIENTATION = ("00209116", "00200037")  # Plane Orientation Sequence > Image Orientation (Patient)
_THICKNESS = ("00289110", "00180050")  # Pixel Measures Sequence > Slice Thickness
_SPACING = ("00289110", "00280030")  # Pixel Measures Sequence > Pixel Spacing
_ACQUIRED = ("00209111", "00189074")  # Frame Content Sequence > Frame Acquisition DateTime
_DIMENSION = ("00209111", "00209157")  # Frame Content Sequence > Dimension Index Values
_STACK_ID = ("00209111", "00209056")  # Frame Content Sequence > Stack ID
_IN_STACK = ("00209111", "00209057")  # Frame Content Sequence > In-Stack Position Number
_TEMPORAL = ("00209111", "00209128")  # Frame Content Sequence > Temporal Position Index
_CENTER = ("00289132", "00281050")  # Frame VOI LUT Sequence > Window Center
_WIDTH = ("00289132", "00281051")  # Frame VOI LUT Sequence > Window Width

FRAME_FIELDS: tuple[str, ...] = (
    "frame_number",
    "image_position_patient",
    "image_orientation_patient",
    "slice_location",
    "slice_thickness",
    "pixel_spacing",
    "frame_acquisition_datetime",
    "dimension_index_values",
    "stack_id",
    "in_stack_position_number",
    "temporal_position_index",
    "window_center",
    "window_width",
)
"""Keys of one frame row, in the order of the ``frames`` struct (radlake._schemas.DICOM_FRAME)."""


def summarise_per_frame(dataset: dict[str, Any], parse_dt: Callable[[str | None], Any]) -> list[dict[str, Any]] | None:
    """Replace the per-frame functional groups of a parsed header by a summary; return the frame rows.

    Parameters
    ----------
    dataset
        The top-level DICOM JSON dict of one instance (changed in place).
    parse_dt
        Reads a DT value (:func:`ingestion.dicom.header.parse_dt`; passed in, as the header parser calls this).

    Returns
    -------
    list of dict or None
        One row per per-frame item (keys :data:`FRAME_FIELDS`, ``frame_number`` from 1), or None when the
        header has no per-frame functional groups.
    """
    element = dataset.get(PER_FRAME)
    items = element.get("Value") if isinstance(element, dict) else None
    if not isinstance(items, list) or not items:
        return None
    shared = _first_item(dataset.get(SHARED))
    rows = [_frame_row(k + 1, i if isinstance(i, dict) else {}, shared, parse_dt) for k, i in enumerate(items)]
    dataset[PER_FRAME] = {"vr": "SQ", SUMMARY_KEY: _summary(items)}
    return rows


def _summary(items: list[Any]) -> dict[str, Any]:
    """Constant attributes once and the paths of the varying ones (two levels: macro, then its attributes)."""
    dicts = [i if isinstance(i, dict) else {} for i in items]
    first = dicts[0]
    constant: dict[str, Any] = {}
    varying: list[str] = []
    macros = sorted({k for d in dicts for k in d})
    for macro in macros:
        values = [d.get(macro) for d in dicts]
        if all(v == values[0] for v in values):
            if values[0] is not None:
                constant[macro] = values[0]
            continue
        inner = [_first_item(v) for v in values]
        if any(i is None for i in inner):
            varying.append(macro)  # present in some frames only, or not a one-item sequence
            continue
        kept: dict[str, Any] = {}
        for attr in sorted({a for i in inner for a in i}):  # type: ignore[union-attr]
            column = [i.get(attr) for i in inner]  # type: ignore[union-attr]
            if all(v == column[0] for v in column):
                kept[attr] = column[0]
            else:
                varying.append(f"{macro}/{attr}")
        if kept:
            constant[macro] = {"vr": first.get(macro, {}).get("vr", "SQ"), "Value": [kept]}
    out: dict[str, Any] = {"frames": len(items), "constant": constant, "varying": varying[:MAX_VARYING]}
    if len(varying) > MAX_VARYING:
        out["varyingOmitted"] = len(varying) - MAX_VARYING
    out["sideTable"] = SIDE_TABLE
    return out


def _first_item(element: Any) -> dict[str, Any] | None:
    if not isinstance(element, dict):
        return None
    value = element.get("Value")
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    return None


def _value(item: dict[str, Any], shared: dict[str, Any] | None, path: tuple[str, str]) -> list[Any] | None:
    """The values of ``macro > attribute`` in a frame's item, else in the shared groups."""
    for source in (item, shared):
        macro = _first_item(source.get(path[0])) if source else None
        if macro is not None:
            element = macro.get(path[1])
            if isinstance(element, dict) and isinstance(element.get("Value"), list):
                return element["Value"]  # type: ignore[no-any-return]
    return None


def _floats(values: list[Any] | None, n: int | None = None) -> list[float] | None:
    if values is None or (n is not None and len(values) != n):
        return None
    out = []
    for v in values:
        f = _float(v)
        if f is None:
            return None
        out.append(f)
    return out


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(values: list[Any] | None) -> int | None:
    f = _float(values[0]) if values else None
    return int(f) if f is not None and f.is_integer() and abs(f) < 2**31 else None


def _text(values: list[Any] | None) -> str | None:
    return values[0] if values and isinstance(values[0], str) else None


def _slice_location(position: list[float] | None, orientation: list[float] | None) -> float | None:
    """Distance of the frame's plane along its normal: the position projected on row × column direction."""
    if position is None or orientation is None:
        return None
    r, c = orientation[:3], orientation[3:]
    normal = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    if not any(normal):
        return None
    return sum(p * n for p, n in zip(position, normal, strict=True))


def _frame_row(
    number: int, item: dict[str, Any], shared: dict[str, Any] | None, parse_dt: Callable[[str | None], Any]
) -> dict[str, Any]:
    position = _floats(_value(item, shared, _POSITION), 3)
    orientation = _floats(_value(item, shared, _ORIENTATION), 6)
    dims = _value(item, shared, _DIMENSION)
    dim_ints = [int(v) for v in dims if isinstance(v, int) and not isinstance(v, bool)] if dims else None
    acquired = _text(_value(item, shared, _ACQUIRED))
    return {
        "frame_number": number,
        "image_position_patient": position,
        "image_orientation_patient": orientation,
        "slice_location": _slice_location(position, orientation),
        "slice_thickness": _float((_value(item, shared, _THICKNESS) or [None])[0]),
        "pixel_spacing": _floats(_value(item, shared, _SPACING), 2),
        "frame_acquisition_datetime": parse_dt(acquired),
        "dimension_index_values": dim_ints if dims and len(dim_ints or ()) == len(dims) else None,
        "stack_id": _text(_value(item, shared, _STACK_ID)),
        "in_stack_position_number": _int(_value(item, shared, _IN_STACK)),
        "temporal_position_index": _int(_value(item, shared, _TEMPORAL)),
        "window_center": _float((_value(item, shared, _CENTER) or [None])[0]),
        "window_width": _float((_value(item, shared, _WIDTH) or [None])[0]),
    }
