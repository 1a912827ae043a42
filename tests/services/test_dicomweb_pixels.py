"""WADO-RS frames and rendered images through dicomweb-client, against the stored files decoded by pydicom."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid
from service_harness import running

from radlake.config import Settings
from services import create_app, issue_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RNG = np.random.default_rng(23)


def _base(rows: int, columns: int, frames: int, modality: str = "CT") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality, ds.InstitutionName = "PIX1", "Pix^One", modality, "h01"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber, ds.AccessionNumber = "20261101", 1, 1, "PIXACC"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    return ds


def _files(folder: Path) -> dict[str, Path]:
    """A windowed 16-bit CT of 3 frames, its RLE copy, an 8-bit JPEG baseline and a US with burned-in text."""
    ct = _base(24, 20, 3)
    ct.BitsAllocated, ct.BitsStored, ct.HighBit, ct.PixelRepresentation = 16, 12, 11, 0
    ct.RescaleSlope, ct.RescaleIntercept, ct.WindowCenter, ct.WindowWidth = 1, -1024, 40, 400
    ct.BurnedInAnnotation = "NO"
    ct.PixelData = RNG.integers(600, 1600, (3, 24, 20), dtype=np.uint16).tobytes()
    rle = _base(24, 20, 3)
    for name in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "RescaleSlope",
                 "RescaleIntercept", "WindowCenter", "WindowWidth", "BurnedInAnnotation"):  # fmt: skip
        setattr(rle, name, ct.get(name))
    rle.PixelData = ct.PixelData
    rle.compress(RLELossless)
    jpeg = _base(16, 16, 2)
    jpeg.BitsAllocated, jpeg.BitsStored, jpeg.HighBit, jpeg.PixelRepresentation = 8, 8, 7, 0
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    encoded = []
    for _ in range(2):
        out = io.BytesIO()
        Image.fromarray(RNG.integers(0, 255, (16, 16), dtype=np.uint8)).save(out, format="JPEG", quality=95)
        encoded.append(out.getvalue())
    jpeg.PixelData = encapsulate(encoded)
    jpeg["PixelData"].VR = "OB"
    us = _base(8, 8, 1, modality="US")
    us.BitsAllocated, us.BitsStored, us.HighBit, us.PixelRepresentation = 8, 8, 7, 0
    us.BurnedInAnnotation = "YES"
    us.PixelData = RNG.integers(0, 255, (8, 8), dtype=np.uint8).tobytes()
    # Another modality than the CTs: the research check below picks one series per modality, in QIDO's order,
    # which follows the random UIDs.
    wide = _base(40, 40, 1, modality="MR")
    wide.BitsAllocated, wide.BitsStored, wide.HighBit, wide.PixelRepresentation = 16, 16, 15, 0
    wide.PixelData = bytes(40 * 40 * 2)  # 3,200 bytes a frame: over the test's max_frame_bytes
    out = {}
    for name, ds in (("ct", ct), ("rle", rle), ("jpeg", jpeg), ("us", us), ("wide", wide)):
        out[name] = folder / f"{name}.dcm"
        ds.save_as(out[name], enforce_file_format=True)
    return out


@pytest.fixture(scope="module")
def pixel_lake(tmp_path_factory: pytest.TempPathFactory, spark) -> tuple[Path, dict[str, Path]]:
    from ingestion.dicom.api import ingest_dicom
    from transforms.dicom.job import build_dicom_rollups

    root = tmp_path_factory.mktemp("pixels")
    (root / "dicom").mkdir()
    files = _files(root / "dicom")
    settings = Settings(lake=str(root / "lake"))
    ingest_dicom(settings, [root / "dicom"], workers=0)
    build_dicom_rollups(spark, settings)
    return root / "lake", files


def _uids(path: Path) -> tuple[str, str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def _display(ds: pydicom.Dataset, frame: np.ndarray) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear window on the rescaled values, to 0..255 (the truth for a rendered image)."""
    values = frame.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    out = np.where(values <= c - 0.5 - (w - 1) / 2, 0.0, np.where(values > c - 0.5 + (w - 1) / 2, 255.0,
                   ((values - (c - 0.5)) / (w - 1) + 0.5) * 255.0))  # fmt: skip
    return out


def test_frames_and_rendered(pixel_lake, tmp_path: Path) -> None:
    from radlake.pseudonym import write_key_file

    lake_dir, files = pixel_lake
    settings = Settings(
        lake=str(lake_dir),
        pseudonym_key_file=str(write_key_file(tmp_path / "key")),
        spaces={"group": {"identified": True}, "research": {"identified": False}},
        serve={"tokens_file": str(tmp_path / "tokens.json"), "max_frame_bytes": 2000, "audit_flush_seconds": 0.2},
    )
    token = issue_token(settings, "group")
    research = issue_token(settings, "research")
    with running(create_app(settings)) as base:
        client = DICOMwebClient(f"{base}/spaces/group/dicomweb", headers={"Authorization": f"Bearer {token}"})
        # Native: each frame's bytes are the frame pydicom decodes from the stored file.
        ct = pydicom.dcmread(files["ct"])
        parts = client.retrieve_instance_frames(*_uids(files["ct"]), frame_numbers=[3, 1])
        for part, n in zip(parts, (3, 1), strict=True):
            assert np.array_equal(np.frombuffer(part, "<u2").reshape(24, 20), ct.pixel_array[n - 1])
        octet = client.retrieve_instance_frames(
            *_uids(files["ct"]), frame_numbers=[2], media_types=("application/octet-stream",)
        )
        assert np.array_equal(np.frombuffer(octet[0], "<u2").reshape(24, 20), ct.pixel_array[1])
        # Encapsulated: the compressed frame as stored, in its transfer syntax's media type.
        rle = pydicom.dcmread(files["rle"])
        stored = list(generate_frames(rle.PixelData, number_of_frames=3))
        assert client.retrieve_instance_frames(*_uids(files["rle"]), frame_numbers=[2]) == [stored[1]]
        r = httpx.get(
            f"{base}/spaces/group/dicomweb/studies/{'/series/'.join(_uids(files['jpeg'])[:2])}/instances/"
            f"{_uids(files['jpeg'])[2]}/frames/2",
            headers={"Authorization": f"Bearer {token}", "Accept": 'multipart/related; type="image/jpeg"'},
        )
        assert r.status_code == 200 and b"Content-Type: image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50" in r.content
        jpeg = pydicom.dcmread(files["jpeg"])
        assert list(generate_frames(jpeg.PixelData, number_of_frames=2))[1] in r.content
        # Rendered: PNG is lossless, so every pixel is the window of the header within rounding.
        png = client.retrieve_instance_rendered(*_uids(files["ct"]), media_types=("image/png",))
        shown = np.asarray(Image.open(io.BytesIO(png)))
        assert shown.shape == (24, 20) and np.abs(shown.astype(float) - _display(ct, ct.pixel_array[0])).max() <= 1
        third = client.retrieve_instance_frames_rendered(
            *_uids(files["rle"]), frame_numbers=[3], media_types=("image/png",)
        )
        assert (
            np.abs(np.asarray(Image.open(io.BytesIO(third))).astype(float) - _display(ct, ct.pixel_array[2])).max() <= 1
        )
        decoded = Image.open(io.BytesIO(client.retrieve_instance_rendered(*_uids(files["jpeg"]))))
        assert decoded.format == "JPEG" and decoded.size == (16, 16)
        # Bounds and refusals: a frame over serve.max_frame_bytes, a frame beyond the instance, a bad list.
        root = f"{base}/spaces/group/dicomweb/studies/%s/series/%s/instances/%s"
        auth = {"Authorization": f"Bearer {token}"}
        for path in ("/frames/1", "/rendered"):
            over = httpx.get(root % _uids(files["wide"]) + path, headers=auth)
            assert over.status_code == 413 and "2000 bytes" in over.json()["reason"]
        assert httpx.get(root % _uids(files["ct"]) + "/frames/4", headers=auth).status_code == 404
        assert httpx.get(root % _uids(files["ct"]) + "/frames/1,x", headers=auth).status_code == 400
        assert (
            httpx.get(
                root % _uids(files["ct"]) + "/rendered", params={"window": "40,-1,linear"}, headers=auth
            ).status_code
            == 400
        )
        # Research: keyed UIDs, and no pixels the export would quarantine (Burned In Annotation YES).
        rclient = DICOMwebClient(f"{base}/spaces/research/dicomweb", headers={"Authorization": f"Bearer {research}"})
        items = {i["00080060"]["Value"][0] if "00080060" in i else "": i for i in rclient.search_for_series()}
        rauth = {"Authorization": f"Bearer {research}"}
        for modality, status in (("US", 403), ("CT", 200)):
            series = items[modality]
            inst = rclient.search_for_instances(
                study_instance_uid=series["0020000D"]["Value"][0], series_instance_uid=series["0020000E"]["Value"][0]
            )[0]
            url = base + inst["00081190"]["Value"][0].partition("127.0.0.1")[2]
            got = httpx.get(url + "/rendered", headers=rauth)
            assert got.status_code == status, (modality, got.text[:200])
            if status == 403:
                assert "Burned In Annotation is YES" in got.json()["reason"]
                assert httpx.get(url + "/frames/1", headers=rauth).status_code == 403
