"""Enhanced multi-frame objects: the header summary, silver/dicom_frames against DCMTK, frame roll-ups."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import orjson
import pydicom
from dicom_corpus import INSTANCES, dataset_bytes, make_dataset, rows
from pydicom.data import get_testdata_file

from ingestion.dicom.api import ingest_dicom
from ingestion.dicom.header import parse_header
from radlake import catalog, lake
from simulator.enhanced import enhanced_multiframe
from transforms.dicom.job import build_dicom_rollups

ROOT = "1.2.826.0.1.3680043.10.543.30"


def _varying_paths(path: Path) -> list[str]:
    """Which (macro/attribute) of the per-frame groups differ between frames, read with pydicom."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    seen: dict[str, set[str]] = defaultdict(set)
    for item in ds.PerFrameFunctionalGroupsSequence:
        for macro in item:
            for attr in macro.value[0]:
                seen[f"{macro.tag:08X}/{attr.tag:08X}"].add(repr(attr.value))
    return sorted(k for k, v in seen.items() if len(v) > 1)


def test_header_keeps_shared_groups_and_a_summary_that_does_not_grow(tmp_path: Path) -> None:
    small = enhanced_multiframe(f"{ROOT}.1", 40, modality="MR", phases=4)
    large = enhanced_multiframe(f"{ROOT}.1", 400, modality="MR", phases=4)
    (tmp_path / "mr.dcm").write_bytes(large)
    h_small, h_large = parse_header(small), parse_header(large)
    # The per-frame groups (about 0.2 MiB of JSON for 400 frames) are out: only the frame count's digits differ
    # (in Number of Frames and in the summary).
    assert len(h_large.json) - len(h_small.json) == 2 and len(h_large.json) < 4096
    header = orjson.loads(h_large.json)
    summary = header["52009230"]["radlake:perFrameSummary"]
    assert summary["frames"] == 400 and summary["sideTable"] == "silver/dicom_frames"
    assert summary["varying"] == _varying_paths(tmp_path / "mr.dcm")
    ds = pydicom.dcmread(tmp_path / "mr.dcm", stop_before_pixels=True)
    # Orientation is written in every frame but is the same: kept once, as the file has it.
    orientation = summary["constant"]["00209116"]["Value"][0]["00200037"]["Value"]
    assert orientation == [float(v) for v in ds.PerFrameFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                           .ImageOrientationPatient]  # fmt: skip
    shared = header["52009229"]["Value"][0]["00289110"]["Value"][0]
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert shared["00180050"]["Value"] == [float(measures.SliceThickness)]
    assert shared["00280030"]["Value"] == [float(v) for v in measures.PixelSpacing]
    assert len(h_large.frames or ()) == 400


def _dcmtk_frames(path: Path) -> list[dict]:
    """Per-frame values as DCMTK's dcm2json reads them (an independent parser)."""
    model = json.loads(subprocess.run(["dcm2json", str(path)], capture_output=True, check=True, text=True).stdout)
    shared = model.get("52009229", {}).get("Value", [{}])[0]

    def value(item: dict, macro: str, attr: str) -> list | None:
        for source in (item, shared):
            if macro in source:
                element = source[macro]["Value"][0].get(attr, {})
                if "Value" in element:
                    return element["Value"]
        return None

    out = []
    for n, item in enumerate(model["52009230"]["Value"], start=1):
        content = ("00209111",)
        out.append(
            {
                "frame_number": n,
                "image_position_patient": [float(v) for v in value(item, "00209113", "00200032") or []] or None,
                "image_orientation_patient": [float(v) for v in value(item, "00209116", "00200037") or []] or None,
                "dimension_index_values": value(item, *content, "00209157"),
                "in_stack_position_number": (value(item, *content, "00209057") or [None])[0],
                "temporal_position_index": (value(item, *content, "00209128") or [None])[0],
                "acquired": (value(item, *content, "00189074") or [None])[0],
            }
        )
    return out


def _expected_frames(path: Path) -> tuple[str, str, int]:
    """(series UID, SOP UID, frames) as the file declares them: Number of Frames, else 1 for an image."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    frames = int(ds.NumberOfFrames) if "NumberOfFrames" in ds else (1 if "Rows" in ds else 0)
    return ds.SeriesInstanceUID, ds.StudyInstanceUID, frames


def test_frame_table_and_rollups_match_independent_readings(tmp_path: Path, settings, spark) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "mr.dcm").write_bytes(enhanced_multiframe(f"{ROOT}.2", 24, modality="MR", phases=3, study_uid=f"{ROOT}"))
    (src / "ct.dcm").write_bytes(enhanced_multiframe(f"{ROOT}.3", 10, study_uid=f"{ROOT}"))
    for name in ("liver_1frame.dcm", "CT_small.dcm", "MR_small.dcm"):  # pydicom's test files
        shutil.copyfile(get_testdata_file(name), src / name)
    classic = make_dataset(f"{ROOT}.4", series="9", NumberOfFrames=5, Rows=8, Columns=8)
    (src / "classic.dcm").write_bytes(dataset_bytes(classic))
    report = make_dataset(f"{ROOT}.5", series="9")  # a report-like object: no image, no frames
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit", "PixelData"):
        delattr(report, keyword)
    (src / "sr.dcm").write_bytes(dataset_bytes(report))

    ingest_dicom(settings, [src], workers=0)
    build_dicom_rollups(spark, settings)

    def silver(name: str) -> list[dict]:
        table = lake.read_arrow(settings, catalog.table_uri(settings, catalog.table("silver", name)))
        assert table is not None
        return table.to_pylist()

    frames = silver("dicom_frames")
    by_sop: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(frames, key=lambda r: (r["sop_instance_uid"], r["frame_number"])):
        by_sop[r["sop_instance_uid"]].append(r)
    liver = pydicom.dcmread(src / "liver_1frame.dcm", stop_before_pixels=True)
    assert set(by_sop) == {f"{ROOT}.2", f"{ROOT}.3", liver.SOPInstanceUID}
    for name, sop in (("mr.dcm", f"{ROOT}.2"), ("ct.dcm", f"{ROOT}.3"), ("liver_1frame.dcm", liver.SOPInstanceUID)):
        want = _dcmtk_frames(src / name)
        got = by_sop[sop]
        assert [g["frame_number"] for g in got] == [w["frame_number"] for w in want]
        for g, w in zip(got, want, strict=True):
            assert g["image_position_patient"] == w["image_position_patient"], (name, g["frame_number"])
            assert g["image_orientation_patient"] == w["image_orientation_patient"]
            assert g["dimension_index_values"] == w["dimension_index_values"]
            assert g["in_stack_position_number"] == w["in_stack_position_number"]
            assert g["temporal_position_index"] == w["temporal_position_index"]
            assert (g["frame_acquisition_datetime"] is None) == (w["acquired"] is None)
            if w["acquired"]:
                assert g["frame_acquisition_datetime"].strftime("%Y%m%d%H%M%S.%f") == w["acquired"]
    # Slice location: the distance along the plane's normal; the MR stack steps 0.625 mm per slice of 3 phases.
    mr = by_sop[f"{ROOT}.2"]
    assert [round(r["slice_location"], 3) for r in mr[::3]] == [round(0.625 * k, 3) for k in range(8)]

    # Frame counts against the files' own declarations, read with pydicom.
    series: dict[str, int] = defaultdict(int)
    studies: dict[str, int] = defaultdict(int)
    for path in src.iterdir():
        series_uid, study_uid, n = _expected_frames(path)
        series[series_uid] += n
        studies[study_uid] += n
    assert {r["series_instance_uid"]: r["frame_count"] for r in silver("dicom_series")} == series
    assert {r["study_instance_uid"]: r["frame_count"] for r in silver("dicom_studies")} == studies
    assert studies[ROOT] == 34

    # A re-run over the same folder lands nothing and rebuilds the same frame table.
    landed = rows(settings, INSTANCES)
    ingest_dicom(settings, [src], workers=0)
    build_dicom_rollups(spark, settings)
    assert len(rows(settings, INSTANCES)) == len(landed)
    key = lambda r: (r["sop_instance_uid"], r["frame_number"])  # noqa: E731
    assert sorted(silver("dicom_frames"), key=key) == sorted(frames, key=key)
