"""Test helpers for DICOM ingestion: synthetic instances (pydicom), the corpus of issue 3, table readers."""

from __future__ import annotations

import hashlib
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom import config as pydicom_config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from radlake import catalog, lake
from radlake.config import Settings

CT = "1.2.840.10008.5.1.4.1.1.2"
UID_ROOT = "1.2.826.0.1.3680043.10.543.77"
PYDICOM_DATA = Path(pydicom.__file__).parent / "data"


def make_dataset(
    sop: str,
    *,
    series: str = "1",
    study: str = "1",
    charset: str | None = "ISO_IR 192",
    text: dict[int, bytes] | None = None,
    **values: Any,
) -> Dataset:
    """A small CT instance. ``text`` sets raw bytes of text elements (tag → bytes) for charset cases."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    meta.MediaStorageSOPInstanceUID = sop or f"{UID_ROOT}.0"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT
    if sop:
        ds.SOPInstanceUID = sop
    ds.StudyDate = "20261101"
    ds.StudyTime = "083000"
    ds.AcquisitionDate = "20261101"
    ds.AcquisitionTime = "083510.25"
    ds.AccessionNumber = f"h01A{study:0>6}"
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.InstitutionName = "First People's Hospital"
    ds.StationName = "CT01"
    ds.StudyDescription = "CHEST CT"
    ds.SeriesDescription = f"AXIAL {series}"
    ds.ManufacturerModelName = "Scanner 9000"
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = "M000001"
    ds.PatientBirthDate = "19700215"
    ds.PatientSex = "F"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1.25"
    ds.KVP = "120"
    ds.Exposure = 200
    ds.StudyInstanceUID = f"{UID_ROOT}.{study}"
    ds.SeriesInstanceUID = f"{UID_ROOT}.{study}.{series}"
    ds.SeriesNumber = int(series)
    ds.InstanceNumber = 1
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in values.items():
        setattr(ds, key, value)
    for tag, raw in (text or {}).items():
        # Bytes values of text VRs are written as given: pydicom neither encodes nor validates them.
        vr = pydicom.datadict.dictionary_VR(tag)
        ds.add(DataElement(tag, vr, raw, validation_mode=pydicom_config.IGNORE))
    ds.PixelData = bytes(range(32))
    return ds


def dataset_bytes(ds: Dataset, *, implicit: bool = False, preamble: bool = True) -> bytes:
    """Encode a data set: a DICOM file (preamble + meta) or, without preamble, a bare data set."""
    buf = io.BytesIO()
    if not preamble:
        ds = ds.copy()
        del ds.file_meta
        pydicom.dcmwrite(buf, ds, implicit_vr=implicit, little_endian=True)
        return buf.getvalue()
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Corpus:
    """The test corpus: where it is and what each file must come out as.

    ``expect`` maps the absolute path to (outcome, reason code or None); ``names`` maps a case name to its
    path; ``decoded`` holds the Unicode text a case's patient name (or institution) must decode to.
    """

    root: Path
    expect: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    decoded: dict[str, dict[str, Any]] = field(default_factory=dict)
    sha: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, rel: str, data: bytes, outcome: str, reason: str | None = None) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        key = str(path)
        self.expect[key] = (outcome, reason)
        self.names[name] = key
        self.sha[key] = sha256(data)
        return key


def build_corpus(root: Path) -> Corpus:
    """Write every case of issue 3 under ``root`` (nested folders, most files without an extension)."""
    c = Corpus(root)
    n = iter(range(1, 10_000))

    def uid() -> str:
        return f"{UID_ROOT}.9.{next(n)}"

    # Plain instances in a nested PACS-export tree, no extensions.
    for s in (1, 2):
        for i in (1, 2, 3):
            ds = make_dataset(uid(), series=str(s), study="1", InstanceNumber=i)
            c.add(f"plain_{s}_{i}", f"export/2026/11/01/ST000001/SE00000{s}/IM00000{i}", dataset_bytes(ds), "instance")

    # Character sets, declared correctly.
    gb_name = "张^伟"
    cases = {
        "gb18030": ("GB18030", "ZHANG^WEI=张^伟".encode("gb18030"), "ZHANG^WEI=张^伟", None),
        "gbk": ("GBK", "王^喆".encode("gbk"), "王^喆", None),
        "utf8": ("ISO_IR 192", "李^娜=リ^ナ".encode(), "李^娜=リ^ナ", None),
        "iso2022_ir58": (
            "\\ISO 2022 IR 58",
            b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=",
            "Zhang^XiaoDong=张^小东=",
            None,
        ),
        # Chinese bytes under a missing or wrong Specific Character Set.
        "missing_gb": (None, gb_name.encode("gb18030"), gb_name, "GB18030"),
        "latin1_gb": ("ISO_IR 100", gb_name.encode("gb18030"), gb_name, "GB18030"),
        "utf8_declared_gb": ("ISO_IR 192", gb_name.encode("gb18030"), gb_name, "GB18030"),
        "missing_utf8": (None, gb_name.encode("utf-8"), gb_name, "ISO_IR 192"),
        "gb_declared_utf8": ("GB18030", "欧阳^娜娜".encode(), "欧阳^娜娜", "ISO_IR 192"),
    }
    for name, (charset, raw, text, inferred) in cases.items():
        institution = "第一人民医院"
        inst_raw = (
            b"\x1b$)A" + institution.encode("gb2312")
            if charset and "2022" in charset
            else institution.encode("gb18030" if (inferred == "GB18030" or charset in ("GB18030", "GBK")) else "utf-8")
        )
        if name == "gb_declared_utf8":
            inst_raw = institution.encode("utf-8")
        ds = make_dataset(uid(), study="2", charset=charset, text={0x00100010: raw, 0x00080080: inst_raw})
        key = c.add(name, f"charsets/{name}/IM0001", dataset_bytes(ds), "instance")
        c.decoded[key] = {"patient_name": text, "institution_name": institution, "inferred": inferred}

    # Files that are no readable instance.
    c.add("empty", "junk/empty.dcm", b"", "reject", "empty_file")
    c.add("text", "junk/README.txt", "PACS export log\n导出完成\n".encode(), "reject", "not_dicom")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
    c.add("png", "junk/preview.png", png, "reject", "not_dicom")
    c.add(
        "jpeg",
        "junk/thumb",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(30) + b"\xff\xd9",
        "reject",
        "not_dicom",
    )
    whole = dataset_bytes(make_dataset(uid(), study="3"))
    c.add("truncated", "broken/IM_cut", whole[:300], "reject", "truncated_header")
    no_uid = make_dataset("", study="3")
    c.add("no_sop_uid", "broken/IM_nouid", dataset_bytes(no_uid), "reject", "no_sop_instance_uid")
    shutil.copyfile(PYDICOM_DATA / "test_files" / "dicomdirtests" / "DICOMDIR", root / "DICOMDIR")
    c.add("dicomdir", "media/DICOMDIR", (root / "DICOMDIR").read_bytes(), "reject", "dicomdir")
    (root / "DICOMDIR").unlink()

    # A byte-identical copy, and the same SOP Instance UID with different bytes.
    dup_uid = uid()
    original = dataset_bytes(make_dataset(dup_uid, study="4"))
    c.add("dup_original", "dups/a/IM0001", original, "instance")
    c.add("dup_copy", "dups/b/IM0001", original, "duplicate")
    changed = dataset_bytes(make_dataset(dup_uid, study="4", StudyDescription="CHEST CT (corrected)"))
    c.add("conflict", "dups/c/IM0001", changed, "conflict")

    # Vendor private tags (a private creator block, a value, a long binary value and a private sequence).
    ds = make_dataset(uid(), study="5")
    block = ds.private_block(0x0029, "ACME MR HEADER", create=True)
    block.add_new(0x01, "LO", "vendor value")
    block.add_new(0x02, "OB", bytes(range(256)) * 8)
    item = Dataset()
    item.add_new(0x00291010, "LO", "ACME NESTED")
    item.add_new(0x00291011, "UL", 7)
    block.add_new(0x03, "SQ", Sequence([item]))
    c.add("private", "vendor/IM0001", dataset_bytes(ds), "instance")

    # An unparseable StudyDate: study_date null, study_date_raw kept.
    ds = make_dataset(uid(), study="6", text={0x00080020: b"2026-13-45"})
    c.add("bad_date", "dates/IM0001", dataset_bytes(ds), "instance")

    # Implicit VR little endian without preamble or file meta (an old PACS export).
    ds = make_dataset(uid(), study="7")
    c.add("raw_implicit", "old/IMG0001", dataset_bytes(ds, implicit=True, preamble=False), "instance")

    # pydicom's bundled test files (shipped in its wheel).
    for name in ("CT_small.dcm", "rtplan.dcm", "image_dfl.dcm", "MR_small_bigendian.dcm"):
        c.add(f"pydicom_{name}", f"pydicom/{name}", (PYDICOM_DATA / "test_files" / name).read_bytes(), "instance")
    c.add(
        "pydicom_truncated",
        "pydicom/rtplan_truncated.dcm",
        (PYDICOM_DATA / "test_files" / "rtplan_truncated.dcm").read_bytes(),
        "reject",
        "truncated_header",
    )
    c.add(
        "pydicom_nouid",
        "pydicom/no_meta_group_length.dcm",
        (PYDICOM_DATA / "test_files" / "no_meta_group_length.dcm").read_bytes(),
        "reject",
        "no_sop_instance_uid",
    )
    for name in ("chrX1.dcm", "chrX2.dcm"):
        c.add(
            f"pydicom_{name}",
            f"pydicom/charset/{name}",
            (PYDICOM_DATA / "charset_files" / name).read_bytes(),
            "instance",
        )
    return c


FILES = catalog.table("bronze", "dicom_files")
INSTANCES = catalog.table("bronze", "dicom_instances")
VOLATILE = {"first_seen_at", "ingested_at", "ingest_date"}  # when it ran, not what it found


def rows(settings: Settings, spec: catalog.TableSpec) -> list[dict]:
    """All rows of a lake table (fails when the table does not exist)."""
    table = lake.read_arrow(settings, catalog.table_uri(settings, spec))
    assert table is not None, f"{spec.key} was not written"
    return table.to_pylist()


def content(settings: Settings) -> tuple[list[dict], list[dict]]:
    """Both bronze tables without the run-time columns, in a fixed order."""
    files = sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in rows(settings, FILES)),
        key=lambda r: r["file_path"],
    )
    inst = sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in rows(settings, INSTANCES)),
        key=lambda r: r["sop_instance_uid"],
    )
    return files, inst


def versions(settings: Settings) -> dict[str, int | None]:
    """Current version of both bronze tables."""
    return {s.key: lake.table_version(settings, catalog.table_uri(settings, s)) for s in (FILES, INSTANCES)}
