"""The header parser: the DICOM JSON model against pydicom's, typed values, and specific reject reasons."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import orjson
import pydicom
import pytest

from ingestion.dicom.header import (
    BULK_LIMIT,
    BULK_URI,
    Reject,
    acquisition_datetime,
    dataset_json,
    parse_da,
    parse_dt,
    parse_header,
    parse_tm,
)

DATA = Path(pydicom.__file__).parent / "data"


def _pydicom_reads(path: Path) -> bool:
    try:
        pydicom.dcmread(path, stop_before_pixels=True).to_json_dict()
        return True
    except Exception:
        return False


def _bundled() -> list[Path]:
    """pydicom's bundled files that pydicom itself reads (without ``force``) and writes as JSON."""
    files = sorted((DATA / "test_files").glob("*.dcm")) + sorted((DATA / "charset_files").glob("*.dcm"))
    return [f for f in files if f.is_file() and _pydicom_reads(f)]


def _normalise(d: dict) -> dict:
    """Make pydicom's JSON and ours comparable where both are valid PS3.18 renderings of the same data.

    Differences allowed: group lengths (we leave them out), the bulk marker URI, empty PN components (we
    omit them, pydicom writes ""), empty strings in multi-values (PS3.18 F.2.5: null), surrounding spaces
    of multi-valued CS values (PS3.5: not significant).
    """
    out = {}
    for key, element in d.items():
        if key.endswith("0000"):
            continue
        element = dict(element)
        vr = element["vr"]
        if "BulkDataURI" in element:
            element["BulkDataURI"] = "bulk"
        if vr == "SQ":
            element["Value"] = [_normalise(item) for item in element.get("Value", [])]
            if not element["Value"]:
                element.pop("Value")
        elif vr == "PN" and "Value" in element:
            element["Value"] = [{k: v for k, v in (c or {}).items() if v} or None for c in element["Value"]]
        elif "Value" in element:
            values = [None if v == "" else v for v in element["Value"]]
            if vr == "CS":
                values = [v.strip() if isinstance(v, str) else v for v in values]
            if vr == "DS":
                values = [None if v is None else float(v) for v in values]
            element["Value"] = values
            if all(v is None for v in values):
                element.pop("Value")
        out[key] = element
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the odd values of its test files
@pytest.mark.parametrize("path", _bundled(), ids=lambda p: p.name)
def test_json_model_matches_pydicom_on_its_bundled_files(path: Path) -> None:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    expected = ds.to_json_dict(bulk_data_threshold=BULK_LIMIT * 4 // 3 + 4, bulk_data_element_handler=lambda e: "x")
    # pydicom reads cut files leniently; radlake rejects them (a partial copy must not land as an instance).
    cut = {"rtplan_truncated.dcm": "truncated_header", "MR_truncated.dcm": "truncated_pixel_data"}
    if path.name in cut:
        with pytest.raises(Reject) as err:
            dataset_json(path.read_bytes())
        assert err.value.code == cut[path.name]
        return
    ours = dataset_json(path.read_bytes())
    assert _normalise(ours) == _normalise(expected)


@pytest.mark.parametrize(
    "name", ["chrX1.dcm", "chrX2.dcm", "chrH31.dcm", "chrKoreanMulti.dcm", "chrRuss.dcm", "chrFren.dcm"]
)
def test_decoded_names_match_pydicom(name: str) -> None:
    data = (DATA / "charset_files" / name).read_bytes()
    header = parse_header(data)
    groups = header.values["patient_name"].split("=")
    while groups and not groups[-1]:
        groups.pop()  # an empty trailing group (a final "=") is kept in the column, pydicom drops it
    assert tuple(groups) == pydicom.dcmread(io.BytesIO(data)).PatientName.components
    assert header.inferred_charset is None


def test_values_person_names_numbers_and_bulk(make_instance) -> None:
    data = make_instance(
        "1.2.3.4",
        charset="GB18030",
        text={0x00100010: "ZHANG^WEI=张^伟".encode("gb18030")},
        ImagePositionPatient=["-2", "-2.5", "10"],
        WindowCenter=["40", "400"],
        ICCProfile=bytes(BULK_LIMIT + 2),  # even: DICOM values have even length
    )
    header = parse_header(data)
    doc = orjson.loads(header.json)
    assert header.values["patient_name"] == "ZHANG^WEI=张^伟"
    assert doc["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "ZHANG^WEI", "Ideographic": "张^伟"}]}
    assert doc["00200032"] == {"vr": "DS", "Value": [-2.0, -2.5, 10.0]}
    assert doc["00281050"] == {"vr": "DS", "Value": [40.0, 400.0]}
    assert doc["00200013"] == {"vr": "IS", "Value": [1]}
    assert doc["00280010"] == {"vr": "US", "Value": [4]}
    assert doc["00282000"] == {"vr": "OB", "BulkDataURI": f"{BULK_URI}{BULK_LIMIT + 2}"}
    assert "7FE00010" not in doc  # pixel data is never read
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2.1"


def test_implicit_vr_without_preamble(make_instance) -> None:
    data = make_instance("1.2.3.5", implicit=True, preamble=False)
    assert data[128:132] != b"DICM"
    header = parse_header(data)
    assert header.values["sop_instance_uid"] == "1.2.3.5"
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2"
    assert orjson.loads(header.json)["00180050"] == {"vr": "DS", "Value": [1.25]}


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "empty_file", "0 bytes"),
        (b"hello, this is a note\n", "not_dicom", "text file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not_dicom", "PNG image"),
        (b"\xff\xd8\xff\xe0" + bytes(64), "not_dicom", "JPEG image"),
        (b"%PDF-1.7\n" + bytes(64), "not_dicom", "PDF document"),
        (bytes(300), "not_dicom", "unrecognised content"),
    ],
)
def test_non_dicom_rejects_name_what_the_file_is(data: bytes, code: str, words: str) -> None:
    with pytest.raises(Reject) as err:
        parse_header(data)
    assert err.value.code == code
    assert words in err.value.detail


def test_truncated_files(make_instance) -> None:
    whole = make_instance("1.2.3.6")
    with pytest.raises(Reject) as err:
        parse_header(whole[:400])
    assert err.value.code == "truncated_header"
    assert "the data ends at byte 400" in err.value.detail
    with pytest.raises(Reject) as err:
        parse_header(whole[:-10])  # only the pixel data is cut
    assert err.value.code == "truncated_pixel_data"


def test_missing_and_empty_sop_instance_uid(make_instance) -> None:
    with pytest.raises(Reject, match=r"no_sop_instance_uid: SOP Instance UID .* is missing"):
        parse_header(make_instance(""))
    ds = pydicom.dcmread(io.BytesIO(make_instance("1.2.3.7")))
    ds.SOPInstanceUID = ""
    buf = io.BytesIO()
    ds.save_as(buf)
    with pytest.raises(Reject, match=r"no_sop_instance_uid: SOP Instance UID .* is empty"):
        parse_header(buf.getvalue())


def test_dicomdir_is_rejected() -> None:
    for name in ("DICOMDIR", "DICOMDIR-implicit", "DICOMDIR-bigEnd"):
        with pytest.raises(Reject) as err:
            parse_header((DATA / "test_files" / "dicomdirtests" / name).read_bytes())
        assert err.value.code == "dicomdir"


def test_private_tags_are_kept(make_instance) -> None:
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(io.BytesIO(make_instance("1.2.3.8")))
    block = ds.private_block(0x0029, "ACME MR HEADER", create=True)
    block.add_new(0x01, "LO", "vendor value")
    item = Dataset()
    item.add_new(0x00291010, "LO", "nested")
    block.add_new(0x02, "SQ", [item])
    buf = io.BytesIO()
    ds.save_as(buf)
    doc = orjson.loads(parse_header(buf.getvalue()).json)
    assert doc["00290010"] == {"vr": "LO", "Value": ["ACME MR HEADER"]}
    assert doc["00291001"] == {"vr": "LO", "Value": ["vendor value"]}
    assert doc["00291002"]["Value"][0]["00291010"] == {"vr": "LO", "Value": ["nested"]}


def test_date_and_time_parsing() -> None:
    assert parse_da("20261101") == dt.date(2026, 11, 1)
    assert parse_da("2026.11.01") == dt.date(2026, 11, 1)  # ACR-NEMA style
    for bad in ("2026-13-45", "20261345", "2026110", "", None, "unknown"):
        assert parse_da(bad) is None
    assert parse_tm("083510.25") == dt.time(8, 35, 10, 250000)
    assert parse_tm("0835") == dt.time(8, 35)
    assert parse_tm("25") is None
    assert parse_dt("20261101083510.5+0800") == dt.datetime(2026, 11, 1, 8, 35, 10, 500000)
    assert acquisition_datetime({"content_date": "20261101", "content_time": "0900"}) == dt.datetime(2026, 11, 1, 9)


def test_numbers_that_are_not_numbers_do_not_reject_the_file(make_instance) -> None:
    data = make_instance("1.2.3.9", SliceThickness="8.88", KVP="7.777", InstanceNumber=12345)
    # Patch in values pydicom would refuse to write: not a number, out of range for JSON.
    data = data.replace(b"8.88", b"thin").replace(b"7.777 ", b"1e400 ")
    data = data.replace(b"\x20\x00\x13\x00IS\x06\x0012345 ", b"\x20\x00\x13\x00IS\x14\x00" + b"9" * 20)
    doc = orjson.loads(parse_header(data).json)
    assert doc["00200013"] == {"vr": "IS", "Value": ["9" * 20]}  # kept as written
    assert doc["00180050"] == {"vr": "DS", "Value": ["thin"]}
    assert doc["00180060"] == {"vr": "DS", "Value": ["1e400"]}
