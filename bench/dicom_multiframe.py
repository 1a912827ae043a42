"""Benchmark: one enhanced CT object with ``--frames`` frames and per-frame functional groups, parsed as bronze does.

Prints the parse time (CPU), the peak memory of parsing it (tracemalloc), the size of the ``header_json`` it
would land, and how much of that the per-frame functional groups take: the figures issue 30 item 3 starts from.
radlake keeps the whole header today (the per-frame groups included) up to ``dicom.limits.max_header_bytes``;
past it values are omitted and counted (see docs/SECURITY.md), so the object lands, but its per-frame values
are cut rather than summarised.

Run: ``.venv/bin/python bench/dicom_multiframe.py [--frames 2000]``
"""

from __future__ import annotations

import argparse
import io
import time
import tracemalloc


def enhanced_ct(frames: int) -> bytes:
    """An enhanced CT instance (8x8 pixels a frame) with shared and per-frame functional groups."""
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.543.77.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.543.77", "1.2.826.0.1.3680043.10.543.77.9"
    ds.Modality, ds.PatientID, ds.PatientName, ds.StudyDate = "CT", "MF0001", "王^芳", "20261207"
    ds.NumberOfFrames = frames
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing, pm.SliceThickness = ["0.5", "0.5"], "0.625"
    po = Dataset()
    po.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PlaneOrientationSequence = Sequence([po])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for k in range(frames):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = ["-120", "-120", f"{-0.625 * k:g}"]
        content = Dataset()
        content.InStackPositionNumber = k + 1
        content.DimensionIndexValues = [1, k + 1]
        content.FrameAcquisitionDateTime = f"20261207083000.{k:06d}"
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = "40", "400"
        item.PlanePositionSequence = Sequence([pos])
        item.FrameContentSequence = Sequence([content])
        item.FrameVOILUTSequence = Sequence([voi])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = b"\0\1" * (64 * frames)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    from ingestion.dicom.header import parse_header

    data = enhanced_ct(args.frames)
    parse_header(data, len(data))  # warm (dictionary look-ups, codecs)
    cpu = time.process_time()
    header = parse_header(data, len(data))
    cpu = time.process_time() - cpu
    tracemalloc.start()
    parse_header(data, len(data))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_frame_key = b'"52009230"'
    start = header.json.find(per_frame_key)
    print(f"enhanced CT, {args.frames:,} frames, file {len(data) / 2**20:.1f} MiB")
    print(f"parse: {cpu * 1000:.0f} ms CPU, peak Python memory {peak / 2**20:.1f} MiB")
    print(
        f"header_json: {len(header.json) / 2**20:.2f} MiB; per-frame functional groups from character {start:,} "
        f"({(len(header.json) - start) / max(len(header.json), 1):.0%} of it when they come last); "
        f"values omitted past max_header_bytes: {header.omitted:,}"
    )


if __name__ == "__main__":
    main()
