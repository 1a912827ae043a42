"""Enhanced multi-frame objects (Enhanced CT, Enhanced MR) with shared and per-frame functional groups.

One object holds a whole series as frames: what a modern scanner exports. An Enhanced CT is one axial stack
(orientation and pixel measures shared, one position per frame); an Enhanced MR is ``phases`` temporal phases
of an oblique stack (orientation per frame, temporal position index and dimension indices per frame). The
pixel data are a few bytes per frame: the objects exercise header handling, not images.
"""

from __future__ import annotations

import io
import math

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def enhanced_multiframe(
    sop_uid: str,
    frames: int,
    *,
    modality: str = "CT",
    study_uid: str = "1.2.826.0.1.3680043.10.543.77",
    series_uid: str | None = None,
    phases: int = 1,
    thickness: float = 0.625,
) -> bytes:
    """An enhanced CT or MR instance (8x8 pixels a frame) as Part 10 bytes.

    Parameters
    ----------
    sop_uid
        SOP Instance UID.
    frames
        Number of frames (per-frame functional group items).
    modality
        ``CT`` (Enhanced CT Image Storage) or ``MR`` (Enhanced MR Image Storage).
    study_uid, series_uid
        Study and series UIDs (the series defaults to ``sop_uid`` + ``.9``).
    phases
        MR only: temporal phases; frame ``k`` is slice ``k // phases`` of phase ``k % phases + 1``.
    thickness
        Slice thickness and spacing in mm.

    Returns
    -------
    bytes
        The file's bytes (explicit VR little endian).
    """
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID, ExplicitVRLittleEndian

    mr = modality == "MR"
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENHANCED_MR if mr else ENHANCED_CT)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, sop_uid
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid or f"{sop_uid}.9"
    ds.Modality, ds.PatientID, ds.PatientName, ds.StudyDate = modality, "MF0001", "王^芳", "20261207"
    ds.StudyTime, ds.AccessionNumber, ds.InstanceNumber = "083000", "MF26120701", 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.NumberOfFrames = frames
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing, pm.SliceThickness = ["0.5", "0.5"], f"{thickness:g}"
    shared.PixelMeasuresSequence = Sequence([pm])
    # MR: an oblique stack, tilted 30 degrees about x; its orientation is written per frame.
    cos, sin = math.cos(math.pi / 6), math.sin(math.pi / 6)
    orientation = ["1", "0", "0", "0", f"{cos:.6f}", f"{sin:.6f}"] if mr else ["1", "0", "0", "0", "1", "0"]
    if not mr:
        po = Dataset()
        po.ImageOrientationPatient = orientation
        shared.PlaneOrientationSequence = Sequence([po])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for k in range(frames):
        slice_, phase = (k // phases, k % phases + 1) if mr else (k, 1)
        item = Dataset()
        pos = Dataset()
        # Along the plane's normal (row x column = (0, -sin, cos) for MR, (0, 0, 1) for CT) by one spacing a slice.
        step = thickness * slice_
        pos.ImagePositionPatient = (
            ["-2", f"{-sin * step:.4f}", f"{cos * step:.4f}"] if mr else ["-2", "-2", f"{step:g}"]
        )
        item.PlanePositionSequence = Sequence([pos])
        if mr:
            po = Dataset()
            po.ImageOrientationPatient = orientation
            item.PlaneOrientationSequence = Sequence([po])
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = slice_ + 1
        content.DimensionIndexValues = [slice_ + 1, phase] if mr else [1, slice_ + 1]
        if mr:
            content.TemporalPositionIndex = phase
        content.FrameAcquisitionDateTime = f"20261207083{phase % 10}00.{k % 1_000_000:06d}"
        item.FrameContentSequence = Sequence([content])
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = "40", "400"
        item.FrameVOILUTSequence = Sequence([voi])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = b"\0\1" * (64 * frames)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
