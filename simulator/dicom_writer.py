"""DICOM files of the simulated exams: a PACS-export folder tree, with the mess real archives hold.

Planning (which studies, series, instances, UIDs, paths and defects) is pure and deterministic for a seed;
:func:`write_studies` only turns plans into files, so it can run in worker processes.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.ris import CHINA_TZ, ExamFact, Institution, stable_seed

# Storage SOP classes by modality (DX and MG "for presentation", as modalities send them to a PACS).
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
}
IMAGE_MODALITIES = frozenset(SOP_CLASSES)
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
# PACS exports of Chinese hospitals: GB18030 or UTF-8 (ISO_IR 192) for the Chinese text.
CHARSETS = ("GB18030", "ISO_IR 192")
CORRUPT_KINDS = ("truncated", "zero_byte", "text", "jpeg")

# Shares of studies (per institution, at least one each) that carry a kind of mess.
MESS_RATES = {
    "no_images": 0.005,
    "orphan": 0.002,
    "no_institution_name": 0.005,
    "no_slice_thickness": 0.005,
    "no_kvp": 0.005,
    "bad_study_date": 0.003,
    "charset_missing": 0.01,
    "duplicate": 0.002,
}
CORRUPT_RATE = 0.002  # of the files of an institution

# Not a real image, only the start of one: a JFIF header, a comment and the end marker.
_JPEG_BYTES = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xfe\x00\x13radlake thumbnail\xff\xd9"
)
_TEXT_BYTES = "PACS export log\r\n导出完成 / export finished\r\n".encode("gb18030")


@dataclass(frozen=True)
class DicomStyle:
    """How one institution's PACS writes files: character set, pinyin names, folder layout."""

    charset: str
    pinyin_share: float
    layout: int


def house_style(inst: Institution) -> DicomStyle:
    """The DICOM style of an institution: odd ones (h01, h03) write GB18030, even ones ISO_IR 192."""
    return DicomStyle(
        charset=CHARSETS[inst.index % 2],
        pinyin_share=(0.04, 0.02, 0.25)[inst.index % 3],
        layout=inst.index % 3,
    )


@dataclass
class InstancePlan:
    """One file of a series."""

    number: int
    sop_uid: str
    path: str  # relative to the dicom root
    corrupt: str = ""  # "" or "truncated" (the file is cut after writing)
    cut: float = 0.0  # where in the header a truncated file ends (0..1)


@dataclass
class SeriesPlan:
    """One series of a study."""

    number: int
    uid: str
    description: str
    folder: str
    slice_thickness: float | None
    instances: list[InstancePlan]
    view: str = ""  # DX/MG view position
    laterality: str = ""


@dataclass
class ExtraFile:
    """A file that is no DICOM instance of the study: a zero-byte, text or JPEG file, or a duplicate."""

    path: str
    kind: str  # zero_byte | text | jpeg | duplicate
    source: str = ""  # duplicates: the path it copies


@dataclass
class StudyPlan:
    """Everything needed to write one study's files (pure data, picklable for worker processes)."""

    institution: str
    institution_name: str
    accession_number: str
    mrn: str
    patient_name: str  # what goes into PatientName (Chinese or pinyin)
    name_form: str  # chinese | pinyin | alphabetic_ideographic
    sex: str
    birth_date: date | None
    started_at: datetime
    modality: str
    body_part: str
    study_description: str
    contrast: bool
    station_name: str
    manufacturer: str
    model: str
    study_uid: str
    folder: str
    charset: str  # written SpecificCharacterSet; "" when missing on purpose
    orphan: bool = False
    defects: tuple[str, ...] = ()
    bad_study_date: str = ""
    series: list[SeriesPlan] = field(default_factory=list)
    extras: list[ExtraFile] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        return sum(len(s.instances) for s in self.series)


@dataclass
class DicomPlan:
    """The studies of one institution and the performed exams left without images."""

    studies: list[StudyPlan]
    no_images: set[str]


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    # The UID is a hash of the seed and the object's place in the hierarchy: same seed, same UID.
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _some(rng: random.Random, candidates: Sequence[int], rate: float) -> set[int]:
    """At least one (when there are candidates), else ``rate`` of them."""
    if not candidates:
        return set()
    k = min(len(candidates), max(1, round(rate * len(candidates))))
    return set(rng.sample(list(candidates), k))


def _series_layout(
    rng: random.Random, modality: str, body_part: str, contrast: bool, manufacturer: str
) -> list[tuple[str, float | None, int, str, str]]:
    """(description, slice thickness, number of images, view, laterality) of each series."""
    out: list[tuple[str, float | None, int, str, str]]
    if modality == "CT":
        out = [("5mm 平扫" if not contrast else "5mm 平扫+增强", 5.0, rng.randint(2, 4), "", "")]
        if body_part == "CHEST":
            thin = 0.625 if manufacturer.startswith("GE") else 1.0
            out.append((f"Lung {thin:g}mm 肺窗", thin, rng.randint(2, 4), "", ""))
        elif contrast:
            out.append(("增强 5mm 静脉期", 5.0, rng.randint(2, 4), "", ""))
        else:
            out.append(("MPR 3mm COR", 3.0, rng.randint(2, 4), "", ""))
        return out
    if modality == "MR":
        names = ["T2WI TSE TRA", "T1WI SE TRA", "DWI b1000", "T2 FLAIR TRA"]
        if contrast:
            names.append("T1WI+C TRA")
        picked = rng.sample(names, rng.randint(2, 3))
        return [(name, float(rng.choice((3, 4, 5, 5, 6))), 2, "", "") for name in picked]
    if modality == "DX":
        views = ["PA", "LL"] if body_part == "CHEST" else ["AP", "LAT"]
        n = rng.randint(1, 2)
        return [(f"{body_part.title()} {' + '.join(views[:n])}", None, n, views[0], "")]
    if modality == "MG":
        side = rng.choice(("L", "R"))
        return [(f"{side} CC/MLO", None, rng.randint(1, 2), "CC", side)]
    return [("彩超", None, rng.randint(1, 2), "", "")]


def _file_name(layout: int, modality: str, k: int, sop_uid: str) -> str:
    if layout == 0:
        return f"IM{k:05d}"
    if layout == 1:
        # This PACS names files by SOP Instance UID; its radiography/ultrasound gateway adds ".dcm".
        return f"{sop_uid}.dcm" if modality in ("DX", "MG", "US") else sop_uid
    return f"I{k:04d}"


def _study_folder(layout: int, fact_date: date, seq: int, accession: str, mrn: str, started: datetime) -> str:
    day = f"{fact_date:%Y%m%d}"
    if layout == 0:
        return f"{day}/ST{seq:06d}"
    if layout == 1:
        return f"{day}/{accession}"
    return f"{day}/{mrn}_{started:%H%M%S}"


def _series_folder(layout: int, number: int, uid: str) -> str:
    return (f"SE{number:04d}", uid, f"S{number:03d}")[layout]


def _study(
    fact: ExamFact,
    inst: Institution,
    style: DicomStyle,
    rng: random.Random,
    seed: int,
    seq: int,
    pinyin: Callable[[str], str],
    *,
    accession: str | None = None,
    started_at: datetime | None = None,
) -> StudyPlan:
    assert fact.item is not None and fact.device is not None and fact.started_at is not None
    accession = accession or fact.accession_number
    started = (started_at or fact.started_at).astimezone(CHINA_TZ)
    form = "chinese"
    name = fact.patient_name
    if name.isascii() or rng.random() < style.pinyin_share:
        form, name = "pinyin", pinyin(name)
    elif style.charset == "ISO_IR 192" and rng.random() < 0.03:
        form, name = "alphabetic_ideographic", f"{pinyin(name)}={name}"
    study_uid = _uid(seed, inst.code, accession, "study")
    folder = _study_folder(style.layout, started.date(), seq, accession, fact.mrn, started)
    plan = StudyPlan(
        institution=inst.code,
        institution_name=inst.name,
        accession_number=accession,
        mrn=fact.mrn,
        patient_name=name,
        name_form=form,
        sex=fact.sex,
        birth_date=fact.birth_date,
        started_at=started,
        modality=fact.item.dicom_modality,
        body_part=fact.item.body_part_examined,
        study_description=fact.raw_exam_name,
        contrast=fact.contrast,
        station_name=fact.device.station_name,
        manufacturer=fact.device.dicom_manufacturer,
        model=fact.device.model,
        study_uid=study_uid,
        folder=folder,
        charset=style.charset,
    )
    layout = _series_layout(rng, plan.modality, plan.body_part, plan.contrast, plan.manufacturer)
    for number, (desc, thickness, n_images, view, lat) in enumerate(layout, start=1):
        series_uid = _uid(seed, inst.code, accession, "series", number)
        series_folder = f"{folder}/{_series_folder(style.layout, number, series_uid)}"
        instances = []
        for k in range(1, n_images + 1):
            sop = _uid(seed, inst.code, accession, "instance", number, k)
            instances.append(
                InstancePlan(k, sop, f"{inst.code}/{series_folder}/{_file_name(style.layout, plan.modality, k, sop)}")
            )
        plan.series.append(SeriesPlan(number, series_uid, desc, series_folder, thickness, instances, view, lat))
    return plan


def plan_dicom(inst: Institution, facts: Sequence[ExamFact], seed: int, pinyin: Callable[[str], str]) -> DicomPlan:
    """Plan the studies of one institution, mess included, deterministically for a seed.

    Parameters
    ----------
    inst
        The institution.
    facts
        Its orders (:attr:`simulator.ris.RisData.exams`).
    seed
        Seed of the group.
    pinyin
        ``pinyin(name) -> 'ZHANG^WEI'`` for pinyin-only patient names.

    Returns
    -------
    DicomPlan
        One plan per study to write (orphans included) and the accessions of performed exams left
        without images on purpose.
    """
    rng = random.Random(stable_seed(seed, inst.code, "dicom"))
    style = house_style(inst)
    performed = [f for f in facts if f.performed and f.kind == "exam" and f.modality in IMAGE_MODALITIES]
    skipped = _some(rng, range(len(performed)), MESS_RATES["no_images"])
    studies: list[StudyPlan] = []
    seq_by_day: dict[date, int] = {}

    def next_seq(moment: datetime) -> int:
        day = moment.astimezone(CHINA_TZ).date()
        seq_by_day[day] = seq_by_day.get(day, 0) + 1
        return seq_by_day[day]

    for i, fact in enumerate(performed):
        if i in skipped:
            continue
        assert fact.started_at is not None
        studies.append(_study(fact, inst, style, rng, seed, next_seq(fact.started_at), pinyin))
    # Images without an order: studies from outside or under an accession the RIS never issued.
    for n, i in enumerate(sorted(_some(rng, range(len(performed)), MESS_RATES["orphan"])), start=1):
        fact = performed[i]
        assert fact.started_at is not None
        started = fact.started_at + timedelta(minutes=37)
        accession = f"{inst.code}W{started.astimezone(CHINA_TZ):%y%m%d}{n:04d}"
        plan = _study(fact, inst, style, rng, seed, next_seq(started), pinyin, accession=accession, started_at=started)
        plan.orphan = True
        studies.append(plan)
    _ensure_unique_folders(studies)
    _add_header_defects(rng, studies)
    _add_file_mess(rng, inst, studies)
    return DicomPlan(studies=studies, no_images={performed[i].accession_number for i in skipped})


def _ensure_unique_folders(studies: list[StudyPlan]) -> None:
    seen: set[str] = set()
    for plan in studies:
        if plan.folder in seen:
            new = f"{plan.folder}_{plan.accession_number}"
            for s in plan.series:
                s.folder = s.folder.replace(plan.folder, new, 1)
                for inst in s.instances:
                    inst.path = inst.path.replace(f"/{plan.folder}/", f"/{new}/", 1)
            plan.folder = new
        seen.add(plan.folder)


def _add_header_defects(rng: random.Random, studies: list[StudyPlan]) -> None:
    idx = range(len(studies))
    defects: dict[int, list[str]] = {}
    for name, pool in (
        ("no_institution_name", list(idx)),
        ("no_slice_thickness", [i for i in idx if studies[i].modality in ("CT", "MR")]),
        ("no_kvp", [i for i in idx if studies[i].modality in ("CT", "DX", "MG")]),
        ("bad_study_date", list(idx)),
        ("charset_missing", [i for i in idx if studies[i].charset == "GB18030" and studies[i].name_form == "chinese"]),
    ):
        for i in _some(rng, pool, MESS_RATES[name]):
            defects.setdefault(i, []).append(name)
    for i, names in defects.items():
        plan = studies[i]
        plan.defects = tuple(names)
        if "bad_study_date" in names:
            d = plan.started_at.date()
            plan.bad_study_date = rng.choice((f"{d:%Y.%m.%d}", f"{d:%Y%m}3{rng.randint(2, 9)}"))
        if "charset_missing" in names:
            plan.charset = ""


def _add_file_mess(rng: random.Random, inst: Institution, studies: list[StudyPlan]) -> None:
    n_files = sum(p.n_files for p in studies)
    k = max(1, round(CORRUPT_RATE * n_files)) if studies else 0
    for j in range(k):
        kind = CORRUPT_KINDS[(j + inst.index) % len(CORRUPT_KINDS)]
        plan = rng.choice(studies)
        series = rng.choice(plan.series)
        if kind == "truncated":
            # Cut a file of a multi-image series (the study keeps other images) as a broken transfer does.
            multi = [(p, s) for p in studies for s in p.series if len(s.instances) > 1]
            plan, series = rng.choice(multi) if multi else (plan, series)
            target = rng.choice([x for x in series.instances if not x.corrupt] or series.instances)
            target.corrupt, target.cut = "truncated", rng.random()
            continue
        number = len(series.instances) + 50 + j
        name = _file_name(2 if kind == "jpeg" else 0, plan.modality, number, "")
        plan.extras.append(ExtraFile(path=f"{inst.code}/{series.folder}/{name}", kind=kind))
    for i in _some(rng, range(len(studies)), MESS_RATES["duplicate"]):
        plan = studies[i]
        copy_folder = f"{plan.folder}_R1"
        for s in plan.series:
            for x in s.instances:
                dst = x.path.replace(f"/{plan.folder}/", f"/{copy_folder}/", 1)
                plan.extras.append(ExtraFile(path=dst, kind="duplicate", source=x.path))


# -- writing -----------------------------------------------------------------------------------------------------
def _text(plan: StudyPlan, value: str) -> Any:
    """A text value as the file carries it: GB18030 bytes when the character set is missing."""
    return value.encode("gb18030") if not plan.charset and not value.isascii() else value


def _age(birth: date | None, on: date) -> str | None:
    if birth is None:
        return None
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{max(years, 0):03d}Y"


def _base_dataset(plan: StudyPlan, series: SeriesPlan, rng: random.Random) -> Any:
    from pydicom import config
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[plan.modality])
    meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    ds.file_meta = meta
    if plan.charset:
        ds.SpecificCharacterSet = plan.charset
    started = plan.started_at
    day, clock = f"{started:%Y%m%d}", f"{started:%H%M%S}"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if plan.modality in ("CT", "MR") else ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = SOP_CLASSES[plan.modality]
    if plan.bad_study_date:
        # Written as found in the wild, so pydicom must not judge the value.
        ds.add(DataElement(0x00080020, "DA", plan.bad_study_date.encode("ascii"), validation_mode=config.IGNORE))
    else:
        ds.StudyDate = day
    series_time = started + timedelta(seconds=30 * series.number)
    ds.SeriesDate = f"{series_time:%Y%m%d}"
    ds.ContentDate = f"{series_time:%Y%m%d}"
    ds.StudyTime = clock
    ds.SeriesTime = f"{series_time:%H%M%S}"
    ds.ContentTime = f"{series_time:%H%M%S}"
    ds.AccessionNumber = plan.accession_number
    ds.Modality = plan.modality
    ds.Manufacturer = plan.manufacturer
    if "no_institution_name" not in plan.defects:
        ds.add(DataElement(0x00080080, "LO", _text(plan, plan.institution_name)))
    ds.ReferringPhysicianName = ""
    ds.StationName = plan.station_name
    ds.add(DataElement(0x00081030, "LO", _text(plan, plan.study_description)))
    ds.add(DataElement(0x0008103E, "LO", _text(plan, series.description)))
    ds.ManufacturerModelName = plan.model
    ds.add(DataElement(0x00100010, "PN", _text(plan, plan.patient_name)))
    ds.PatientID = plan.mrn
    ds.PatientBirthDate = f"{plan.birth_date:%Y%m%d}" if plan.birth_date else ""
    ds.PatientSex = {"M": "M", "F": "F"}.get(plan.sex, "O")
    age = _age(plan.birth_date, started.date())
    if age:
        ds.PatientAge = age
    ds.BodyPartExamined = plan.body_part
    if series.slice_thickness is not None and "no_slice_thickness" not in plan.defects:
        ds.SliceThickness = f"{series.slice_thickness:g}"
    if plan.modality in ("CT", "DX", "MG") and "no_kvp" not in plan.defects:
        kvp = {"CT": rng.choice((100, 120, 120, 140)), "DX": rng.randint(60, 125), "MG": rng.randint(26, 32)}
        ds.KVP = str(kvp[plan.modality])
    if plan.modality in ("CT", "DX", "MG"):
        mas = {"CT": rng.randint(80, 350), "DX": rng.randint(2, 25), "MG": rng.randint(40, 160)}[plan.modality]
        ds.Exposure = mas
        ds.ExposureInmAs = float(mas)
    if plan.modality == "MR":
        ds.MagneticFieldStrength = rng.choice(("1.5", "3"))
        ds.RepetitionTime = str(rng.randint(400, 9000))
        ds.EchoTime = str(rng.randint(10, 120))
    if series.view:
        ds.ViewPosition = series.view
    if series.laterality:
        ds.ImageLaterality = series.laterality
    if plan.modality in ("CT", "MR") and series.slice_thickness:
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.StudyInstanceUID = plan.study_uid
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = plan.accession_number[-6:]
    ds.SeriesNumber = series.number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.PixelSpacing = ["0.5", "0.5"]
    bits = 8 if plan.modality == "US" else 16
    ds.BitsAllocated = bits
    ds.BitsStored = 8 if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    return ds


def _pixels(bits: int, k: int) -> bytes:
    if bits == 8:
        return bytes((i * 3 + k) % 256 for i in range(64))
    return b"".join(((i * 61 + k * 7) % 4096).to_bytes(2, "little") for i in range(64))


# Elements that differ between the files of a series; all others are encoded once per series.
_PER_INSTANCE = frozenset({0x00080018, 0x00200013, 0x00200032, 0x00201041, 0x7FE00010})
_IMPLEMENTATION_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom's implementation class UID
_IMPLEMENTATION_NAME = "RADLAKE_SIM"


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    """One explicit-VR little-endian element (value already padded to even length)."""
    head = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return head + vr + b"\0\0" + len(value).to_bytes(4, "little") + value
    return head + vr + len(value).to_bytes(2, "little") + value


def _uid_bytes(uid: str) -> bytes:
    raw = uid.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def _file_meta(sop_class: str, sop_uid: str) -> bytes:
    """Preamble, prefix and file meta group (Explicit VR Little Endian), as PS3.10 lays them out."""
    name = _IMPLEMENTATION_NAME.encode("ascii")
    body = b"".join(
        (
            _element(0x00020001, b"OB", b"\x00\x01"),
            _element(0x00020002, b"UI", _uid_bytes(sop_class)),
            _element(0x00020003, b"UI", _uid_bytes(sop_uid)),
            _element(0x00020010, b"UI", _uid_bytes(EXPLICIT_VR_LITTLE_ENDIAN)),
            _element(0x00020012, b"UI", _uid_bytes(_IMPLEMENTATION_UID)),
            _element(0x00020013, b"SH", name + b" " if len(name) % 2 else name),
        )
    )
    return b"\0" * 128 + b"DICM" + _element(0x00020000, b"UL", len(body).to_bytes(4, "little")) + body


class _SeriesEncoder:
    """Encodes the elements a series' files share once; each file then encodes only its own few.

    pydicom's ``dcmwrite`` re-encodes every element of every file; with tiny images that is nearly all the
    work, and this keeps the full-size simulation well inside its time budget.
    """

    def __init__(self, ds: Any) -> None:
        from pydicom.charset import convert_encodings

        self.encodings = convert_encodings(ds.get("SpecificCharacterSet") or "ISO_IR 6")
        self.static = [(int(e.tag), self.encode(e)) for e in ds if int(e.tag) not in _PER_INSTANCE]

    def encode(self, elem: Any) -> bytes:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_data_element

        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        write_data_element(fp, elem, self.encodings)
        return bytes(fp.getvalue())

    def file(self, sop_class: str, sop_uid: str, own: list[Any]) -> bytes:
        parts = self.static + [(int(e.tag), self.encode(e)) for e in own]
        parts.sort(key=lambda p: p[0])
        return _file_meta(sop_class, sop_uid) + b"".join(b for _, b in parts)


def write_study(root: Path, plan: StudyPlan) -> int:
    """Write one study's files (and its corrupt and duplicate files) under ``root``; return files written."""
    from pydicom.dataelem import DataElement

    rng = random.Random(stable_seed(plan.study_uid, "header"))
    sop_class = SOP_CLASSES[plan.modality]
    written = 0
    for series in plan.series:
        (root / plan.institution / series.folder).mkdir(parents=True, exist_ok=True)
        ds = _base_dataset(plan, series, rng)
        encoder = _SeriesEncoder(ds)
        positioned = plan.modality in ("CT", "MR") and series.slice_thickness
        for x in series.instances:
            own = [
                DataElement(0x00080018, "UI", x.sop_uid),
                DataElement(0x00200013, "IS", x.number),
                DataElement(0x7FE00010, "OB" if ds.BitsAllocated == 8 else "OW", _pixels(ds.BitsAllocated, x.number)),
            ]
            if positioned:
                assert series.slice_thickness is not None
                z = f"{-series.slice_thickness * x.number:g}"
                own += [DataElement(0x00200032, "DS", ["-2", "-2", z]), DataElement(0x00201041, "DS", z)]
            path = root / x.path
            path.write_bytes(encoder.file(sop_class, x.sop_uid, own))
            if x.corrupt == "truncated":
                _truncate(path, x.cut)
            written += 1
    for extra in plan.extras:
        path = root / extra.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if extra.kind == "duplicate":
            shutil.copyfile(root / extra.source, path)
        elif extra.kind == "zero_byte":
            path.write_bytes(b"")
        elif extra.kind == "text":
            path.write_bytes(_TEXT_BYTES)
        else:
            path.write_bytes(_JPEG_BYTES)
        written += 1
    return written


def _truncate(path: Path, cut: float) -> None:
    """Cut a file after its file meta but before the SOP Instance UID.

    pydicom reads a cut file without complaint and returns what it got, so the cut lies where the file
    loses its identity: a reader must reject it for the missing UIDs, not for an exception.
    """
    data = path.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    sop_at = data.find(b"\x08\x00\x18\x00", meta_end)
    start = meta_end + 8
    path.write_bytes(data[: start + int(cut * max(sop_at - start, 1))])


def write_studies(root: Path, plans: Sequence[StudyPlan]) -> int:
    """Write many studies (a worker's chunk); return the number of files written."""
    return sum(write_study(Path(root), plan) for plan in plans)


def file_rows(plans: Sequence[StudyPlan]) -> list[dict[str, Any]]:
    """One truth row per file the plans write (``files.csv``), paths relative to the dicom root."""
    rows = []
    for plan in plans:
        common = {
            "institution": plan.institution,
            "accession_number": plan.accession_number,
            "study_instance_uid": plan.study_uid,
            "modality": plan.modality,
            "orphan": plan.orphan,
            "charset": plan.charset,
            "name_form": plan.name_form,
            "defects": "|".join(plan.defects),
        }
        by_path: dict[str, dict[str, Any]] = {}
        for s in plan.series:
            for x in s.instances:
                row = {
                    "path": x.path,
                    **common,
                    "series_instance_uid": s.uid,
                    "sop_instance_uid": x.sop_uid,
                    "kind": x.corrupt or "instance",
                    "corrupt": bool(x.corrupt),
                    "duplicate_of": "",
                }
                by_path[x.path] = row
                rows.append(row)
        for extra in plan.extras:
            if extra.kind == "duplicate":
                src = by_path[extra.source]
                rows.append({**src, "path": extra.path, "kind": "duplicate", "duplicate_of": extra.source})
            else:
                rows.append(
                    {"path": extra.path, **common, "series_instance_uid": "", "sop_instance_uid": "",
                     "kind": extra.kind, "corrupt": True, "duplicate_of": ""}
                )  # fmt: skip
    return rows


def chunk_plans(plans: Sequence[StudyPlan], files_per_chunk: int = 600) -> list[list[StudyPlan]]:
    """Split plans into chunks of about ``files_per_chunk`` files for worker processes."""
    chunks: list[list[StudyPlan]] = []
    current: list[StudyPlan] = []
    size = 0
    for plan in plans:
        current.append(plan)
        size += plan.n_files + len(plan.extras)
        if size >= files_per_chunk:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


__all__ = [
    "DicomPlan",
    "DicomStyle",
    "StudyPlan",
    "chunk_plans",
    "file_rows",
    "house_style",
    "plan_dicom",
    "write_studies",
]
