"""Parser limits on hostile files: each a reject with its own reason (or a marked truncation), memory bounded."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import orjson
import pytest
from dicom_corpus import FILES, INSTANCES, dataset_bytes, make_dataset, rows

from ingestion.dicom.api import ingest_dicom
from ingestion.dicom.header import MAX_REASON_CHARS, TRUNCATED_KEY, Reject, parse_header
from ingestion.dicom.workers import parse_one
from radlake.config import DicomConfig, DicomLimits, Settings

UID = "1.2.826.0.1.3680043.10.543.12"
DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT = "1.2.840.10008.1.2.1"


# --- raw encoders (independent of the parser under test and of pydicom) ------------------------------------


def _el(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def _undefined(group: int, elem: int, vr: bytes) -> bytes:
    return struct.pack("<HH2sHI", group, elem, vr, 0, 0xFFFFFFFF)


def _pad(v: bytes, pad: bytes = b" ") -> bytes:
    return v + pad if len(v) % 2 else v


def _meta(syntax: str, sop: str) -> bytes:
    body = (
        _el(0x0002, 0x0001, b"OB", b"\x00\x01")
        + _el(0x0002, 0x0002, b"UI", _pad(b"1.2.840.10008.5.1.4.1.1.2", b"\x00"))
        + _el(0x0002, 0x0003, b"UI", _pad(sop.encode(), b"\x00"))
        + _el(0x0002, 0x0010, b"UI", _pad(syntax.encode(), b"\x00"))
    )
    return b"\x00" * 128 + b"DICM" + _el(0x0002, 0x0000, b"UL", struct.pack("<I", len(body))) + body


def _top(sop: str) -> bytes:
    return (
        _el(0x0008, 0x0016, b"UI", _pad(b"1.2.840.10008.5.1.4.1.1.2", b"\x00"))
        + _el(0x0008, 0x0018, b"UI", _pad(sop.encode(), b"\x00"))
        + _el(0x0008, 0x0060, b"CS", b"CT")
    )


def _file(sop: str, body: bytes, syntax: str = EXPLICIT) -> bytes:
    data = _top(sop) + body + _el(0x7FE0, 0x0010, b"OW", b"\x00" * 16)
    if syntax == DEFLATED:
        z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = z.compress(data) + z.flush()
    return _meta(syntax, sop) + data


def _deflate_bomb(sop: str, inflated: int) -> bytes:
    """A deflated file whose header holds a private OB value of ``inflated`` zero bytes (before pixel data)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [
        z.compress(
            _top(sop)
            + _el(0x0009, 0x0010, b"LO", b"RADLAKE ")
            + struct.pack("<HH2sHI", 0x0009, 0x1001, b"OB", 0, inflated)
        )
    ]
    block = b"\x00" * (1 << 20)
    for _ in range(inflated >> 20):
        parts.append(z.compress(block))
    parts.append(z.compress(_el(0x7FE0, 0x0010, b"OW", b"\x00" * 16)))
    parts.append(z.flush())
    return _meta(DEFLATED, sop) + b"".join(parts)


def _deep(sop: str, depth: int) -> bytes:
    item = b""
    for _ in range(depth):
        item = _undefined(0x0040, 0x0275, b"SQ") + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + item
    closing = (struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)) * depth
    return _file(sop, item + closing)


# --- tests --------------------------------------------------------------------------------------------------


def test_a_normal_deflated_file_parses_like_its_explicit_twin() -> None:
    plain = parse_header(_file(f"{UID}.1", _el(0x0008, 0x1030, b"LO", b"CHEST CT")))
    deflated = parse_header(_file(f"{UID}.1", _el(0x0008, 0x1030, b"LO", b"CHEST CT"), DEFLATED))
    assert deflated.values == plain.values
    assert deflated.json == plain.json
    assert deflated.transfer_syntax_uid == DEFLATED


def test_deflate_bomb_is_rejected_at_the_inflate_cap_without_inflating_it() -> None:
    bomb = _deflate_bomb(f"{UID}.2", 256 << 20)  # 256 MiB of header inflated from ~256 KB
    assert len(bomb) < 1 << 20
    limits = DicomLimits(max_inflated_bytes=8 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(Reject) as err:
            parse_header(bomb, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code == "inflated_too_large"
    assert str(8 << 20) in err.value.detail
    assert peak < 40 << 20, f"peak {peak >> 20} MiB while inflating"  # the cap plus a few copies, not 256 MiB
    # Under the default cap (64 MiB) the same bomb is still rejected.
    with pytest.raises(Reject, match="inflated_too_large"):
        parse_header(bomb)
    # A bomb that inflates within the cap parses (the OB value becomes a bulk marker).
    small = parse_header(_deflate_bomb(f"{UID}.3", 2 << 20), limits=limits)
    assert orjson.loads(small.json)["00091001"]["BulkDataURI"].endswith(str(2 << 20))


def test_a_long_text_value_is_truncated_with_a_marker_not_copied_whole() -> None:
    long_text = b"A" * (3 << 20)  # 3 MiB of report text in a UT
    data = _file(f"{UID}.4", _el(0x0040, 0xA160, b"UT", long_text) + _el(0x0008, 0x1030, b"LO", b"CHEST CT"))
    limits = DicomLimits(max_value_bytes=1000)
    header = parse_header(data, limits=limits)
    value = orjson.loads(header.json)["0040A160"]
    assert value["Value"] == ["A" * 1000]
    assert value[TRUNCATED_KEY] == 3 << 20
    assert header.values["study_description"] == "CHEST CT"  # later elements still read
    assert len(header.json) < 4000


def test_a_long_value_in_a_typed_column_is_truncated_too() -> None:
    # Implicit VR lets a LO (StudyDescription) carry any length; the typed column gets the cut value.
    body = struct.pack("<HHI", 0x0008, 0x1030, 200_000) + b"<script>" * 25_000
    uid = _pad(f"{UID}.5".encode(), b"\x00")
    implicit = _meta("1.2.840.10008.1.2", f"{UID}.5") + struct.pack("<HHI", 0x0008, 0x0018, len(uid)) + uid + body
    header = parse_header(implicit, limits=DicomLimits(max_value_bytes=64))
    assert header.values["study_description"] == "<script>" * 8
    assert orjson.loads(header.json)["00081030"][TRUNCATED_KEY] == 200_000


def test_deep_sequences_are_rejected_with_their_own_reason() -> None:
    assert parse_header(_deep(f"{UID}.6", 5)).values["sop_instance_uid"] == f"{UID}.6"
    with pytest.raises(Reject) as err:
        parse_header(_deep(f"{UID}.6", 50), limits=DicomLimits(max_depth=10))
    assert err.value.code == "sequence_too_deep"
    with pytest.raises(Reject, match="sequence_too_deep"):
        parse_header(_deep(f"{UID}.6", 5000))  # far past Python's recursion limit: still a reject


def test_too_many_elements_are_rejected() -> None:
    body = b"".join(_el(0x0009, 0x1000 + i % 0xEFFF, b"LO", b"XX") for i in range(500))
    with pytest.raises(Reject) as err:
        parse_header(_file(f"{UID}.7", body), limits=DicomLimits(max_elements=100))
    assert err.value.code == "too_many_elements"
    items = struct.pack("<HHI", 0xFFFE, 0xE000, 0) * 5000  # empty items count too
    seq = struct.pack("<HH2sHI", 0x0040, 0x0275, b"SQ", 0, len(items)) + items
    with pytest.raises(Reject, match="too_many_elements"):
        parse_header(_file(f"{UID}.7", seq), limits=DicomLimits(max_elements=1000))


@pytest.mark.parametrize(
    "body",
    [
        struct.pack("<HH2sHI", 0x0040, 0xA160, b"UT", 0, 0xFFFFFFF0) + b"short",  # long length, few bytes
        struct.pack("<HH2sHI", 0x0040, 0x0275, b"SQ", 0, 0x7FFFFFFF) + b"\xfe\xff\x00\xe0",
        _undefined(0x0040, 0x0275, b"SQ") + struct.pack("<HHI", 0xFFFE, 0xE000, 0x40000000),
    ],
    ids=["value", "sequence", "item"],
)
def test_lengths_past_the_end_are_rejected(body: bytes) -> None:
    data = _meta(EXPLICIT, f"{UID}.8") + _top(f"{UID}.8") + body
    with pytest.raises(Reject) as err:
        parse_header(data)
    assert err.value.code == "truncated_header"
    assert "ends at byte" in err.value.detail


def test_reasons_are_bounded_and_printable(tmp_path: Path) -> None:
    path = tmp_path / "hostile.dcm"
    path.write_bytes(_file(f"{UID}.9", b""))
    huge = Reject("malformed_header", "<script>alert(1)</script>\n\x1b[31m" + "x" * 100_000)
    assert len(huge.reason) == MAX_REASON_CHARS
    assert "\n" not in huge.reason and "\x1b" not in huge.reason


def test_hostile_corpus_lands_one_reject_per_file_with_its_reason(tmp_path: Path, make_instance) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    cases = {
        "bomb.dcm": (_deflate_bomb(f"{UID}.20", 80 << 20), "inflated_too_large"),
        "deep.dcm": (_deep(f"{UID}.21", 100), "sequence_too_deep"),
        "past_end.dcm": (
            _meta(EXPLICIT, f"{UID}.22")
            + _top(f"{UID}.22")
            + struct.pack("<HH2sHI", 0x0040, 0xA160, b"UT", 0, 1 << 30),
            "truncated_header",
        ),
    }
    for name, (data, _) in cases.items():
        (folder / name).write_bytes(data)
    (folder / "long_text.dcm").write_bytes(_file(f"{UID}.23", _el(0x0040, 0xA160, b"UT", b"B" * (1 << 20))))
    (folder / "normal.dcm").write_bytes(make_instance(f"{UID}.24"))
    settings = Settings(lake=str(tmp_path / "lake"), dicom=DicomConfig(limits=DicomLimits(max_value_bytes=4096)))
    report = ingest_dicom(settings, [folder], workers=0)
    assert report.outcomes == {"instance": 2, "duplicate": 0, "conflict": 0, "reject": 3}
    by_name = {Path(r["file_path"]).name: r for r in rows(settings, FILES)}
    for name, (_, code) in cases.items():
        assert by_name[name]["outcome"] == "reject"
        assert by_name[name]["reason"].startswith(code + ": "), by_name[name]["reason"]
    inst = {r["sop_instance_uid"]: r for r in rows(settings, INSTANCES)}
    assert len(inst[f"{UID}.23"]["header_json"]) < 6000
    assert orjson.loads(inst[f"{UID}.23"]["header_json"])["0040A160"][TRUNCATED_KEY] == 1 << 20
    # The same files parsed one by one (what a distributed backfill calls) give the same outcomes.
    for name in cases:
        frow, irow = parse_one(str(folder / name), limits=settings.dicom.limits)
        assert frow is not None and irow is None and frow["reason"] == by_name[name]["reason"]


def test_pydicom_written_deflated_files_still_parse(tmp_path: Path) -> None:
    ds = make_dataset(f"{UID}.30")
    ds.file_meta.TransferSyntaxUID = DEFLATED
    data = dataset_bytes(ds)
    header = parse_header(data)
    assert header.values["sop_instance_uid"] == f"{UID}.30"
    assert header.values["patient_name"] == "TEST^PATIENT"


def _control_text_bomb(sop: str, values: int) -> bytes:
    """A deflated file whose private UT values of 64 KiB of control characters inflate to ``values`` × 64 KiB
    (each character is six bytes of JSON: the header grows 6x between the wire and the lake)."""
    creators = b"".join(_el(0x0009, 0x0010 + k, b"LO", b"BOMB") for k in range(4))
    body = creators + b"".join(_el(0x0009, 0x1000 + i, b"UT", b"\x01" * (64 << 10)) for i in range(values))
    return _file(sop, _el(0x0010, 0x0010, b"PN", b"DOE^JANE") + body, DEFLATED)


def test_what_is_decoded_and_kept_is_bounded_not_what_arrived_on_the_wire() -> None:
    data = _control_text_bomb(f"{UID}.40", 200)  # ~60 KB deflated, 12.5 MiB inflated, 75 MiB as JSON
    assert len(data) < 100_000
    limits = DicomLimits(max_header_bytes=1 << 20)
    tracemalloc.start()
    try:
        header = parse_header(data, limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(header.json) < (1 << 20) + (64 << 10)  # the cap plus the omission markers
    assert peak < 48 << 20  # the inflated bytes (12.5 MiB) and the kept values, never the 75 MiB of JSON
    model = orjson.loads(header.json)
    kept = [k for k, v in model.items() if k.startswith("0009") and "Value" in v and k >= "00091000"]
    omitted = [k for k, v in model.items() if "radlake:omittedLength" in v]
    assert len(kept) + len(omitted) == 200 and header.omitted == len(omitted) > 190
    assert all(model[k]["radlake:omittedLength"] == 64 << 10 for k in omitted)
    assert model[kept[0]]["Value"] == ["\x01" * (64 << 10)]  # what is kept is kept whole
    assert header.values["sop_instance_uid"] == f"{UID}.40" and header.values["modality"] == "CT"


def test_chunks_and_batches_are_bounded_by_bytes_as_well_as_files(tmp_path: Path) -> None:
    from ingestion.dicom.landing import Lander, load_state
    from ingestion.dicom.workers import parse_paths

    paths = []
    for i in range(6):  # each header holds about 300 KB of JSON
        path = tmp_path / f"IM{i}.dcm"
        path.write_bytes(
            _file(f"{UID}.5{i}", b"".join(_el(0x0040, 0xA160 + k, b"UT", b"A" * 60_000) for k in range(5)))
        )
        paths.append(str(path))
    first = parse_paths(paths, max_bytes=500_000)
    assert first.files.num_rows == 2 and first.rest == paths[2:]
    settings = Settings(lake=str(tmp_path / "lake"))
    lander = Lander(settings, load_state(settings), app_id="test", batch_files=1000, batch_bytes=600_000)
    for path in paths:
        lander.add(parse_paths([path]), "folder")
    lander.close()
    assert lander.batches_committed == 3  # two files a batch, not one batch of 6
    assert len(rows(settings, INSTANCES)) == 6
