"""A small lake for the DICOMweb tests: the simulator's PACS export plus four named patients, ingested and
rolled up once per session. The truth (which study, series and instance each file holds) is read from the
files with pydicom, never from the lake."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

NAMED = {"zhang_cn": "张伟", "zhang_en": "Zhang^Wei", "zhang_other": "ZHANG^WEIMING", "wang": "Wang^Wei"}
"""Extra patients (key → Patient Name) for the name-matching tests."""


@dataclass
class Lake:
    """Where the lake and the files are, and the truth read from the files."""

    lake: Path
    dicom: Path
    files: list[dict[str, str]]  # the instance files: path, study, series, sop, modality, patient_name, ...
    named_studies: dict[str, str]  # key of NAMED → its Study Instance UID

    @property
    def studies(self) -> set[str]:
        return {f["study"] for f in self.files}


def _named_file(folder: Path, key: str, name: str, day: str) -> str:
    study = generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = day, "101500", 1, 1
    ds.Modality, ds.PatientName, ds.PatientID = "CT", name, f"N-{key}"
    ds.AccessionNumber, ds.InstitutionName = f"NAMED{key[:8]}", "Named Test Hospital"
    ds.ReferringPhysicianName, ds.StudyID = "Li^Na", "S1"
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = b"\x00" * 8
    path = folder / f"{key}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return study


def build_lake(root: Path, spark: Any) -> Lake:
    """Simulate, add the named patients, ingest and run the DICOM roll-ups (the pipeline's own job)."""
    from ingestion.dicom.api import ingest_dicom
    from radlake.config import Settings
    from simulator.simulate import simulate
    from transforms.dicom.job import build_dicom_rollups

    sim = root / "sim"
    simulate(sim, institutions=2, days=1, exams_per_day=12, seed=5)
    named = sim / "dicom" / "named"
    named.mkdir()
    named_studies = {k: _named_file(named, k, n, "20261102") for k, n in NAMED.items()}
    settings = Settings(lake=str(root / "lake"))
    ingest_dicom(settings, [sim / "dicom"], workers=0)
    build_dicom_rollups(spark, settings)
    truth = [r for r in csv.DictReader((sim / "truth" / "files.csv").open(encoding="utf-8")) if r["kind"] == "instance"]
    paths = [sim / r["path"] for r in truth] + sorted(named.glob("*.dcm"))
    files = []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        files.append(
            {
                "path": str(path),
                "study": str(ds.StudyInstanceUID),
                "series": str(ds.SeriesInstanceUID),
                "sop": str(ds.SOPInstanceUID),
                "modality": str(ds.Modality),
                "patient_id": str(ds.get("PatientID", "")),
                "patient_name": str(ds.get("PatientName", "")),
                "accession": str(ds.get("AccessionNumber", "")),
                "study_date": str(ds.get("StudyDate", "")),
                "institution": str(ds.get("InstitutionName", "")),
            }
        )
    return Lake(lake=root / "lake", dicom=sim / "dicom", files=files, named_studies=named_studies)
