"""A data set back to file bytes, copying every value the de-identification did not touch as it was read.

pydicom's writer re-checks and re-encodes each element; for the values kept as read (most of a header, and
the pixel data) that is wasted work. For the explicit VR little endian transfer syntaxes (all but implicit
VR, big endian and deflate) the raw bytes are written behind a fresh header here, and only parsed or changed
elements go through pydicom's own element writer. The output equals pydicom's ``save_as`` byte for byte (a
test compares them).
"""

from __future__ import annotations

import io
import struct
from typing import cast

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info

_NOT_EXPLICIT_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
_LONG_LENGTH = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_UNDEFINED = 0xFFFFFFFF


def encode(ds: Dataset) -> bytes:
    """The Part 10 file of ``ds`` (preamble, file meta, data set)."""
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax in _NOT_EXPLICIT_LE or not syntax:
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return out.getvalue()
    fp = DicomBytesIO()
    fp.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(fp, ds.file_meta, enforce_standard=True)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    encodings = ds._character_set
    pack_short, pack_long = struct.Struct("<HH2sH").pack, struct.Struct("<HH2s2xI").pack
    for tag in sorted(ds.keys()):
        if tag.group == 0x0002:
            continue  # file meta written above
        elem = ds.get_item(tag)
        raw = cast(RawDataElement, elem) if elem.is_raw else None
        raw_ok = (
            raw is not None and raw.VR and raw.length != _UNDEFINED and not raw.is_implicit_VR and raw.is_little_endian
        )
        if raw is not None and raw_ok:
            value = raw.value or b""
            vr = str(raw.VR)
            pack = pack_long if vr in _LONG_LENGTH else pack_short
            fp.write(pack(tag.group, tag.element, vr.encode("ascii"), len(value)) + value)
        else:
            write_data_element(fp, ds[tag], encodings)
    return fp.getvalue()
