"""Real PACS for the pull tests: Orthanc (Debian's) and DCMTK's dcmqrscp on loopback, and synthetic studies."""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT = "1.2.840.10008.5.1.4.1.1.2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_study(
    folder: Path, day: date, instances: int, n: int, *, study_uid: str | None = None, start: int = 0
) -> str:
    """Write ``instances`` CT instances of one synthetic study (no pixel data) into ``folder``; its UID."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or f"1.2.826.0.1.3680043.10.1137.{random.randrange(10**15)}.{n}"
    series_uid = study_uid + ".1"
    for i in range(start, start + instances):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CT
        ds.file_meta.MediaStorageSOPInstanceUID = f"{study_uid}.1.{i + 1}"
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CT
        ds.SOPInstanceUID = f"{study_uid}.1.{i + 1}"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.PatientID = f"P{n:04d}"
        ds.PatientName = f"TEST^{n}"
        ds.AccessionNumber = f"H04A{n:05d}"
        ds.StudyDate = day.strftime("%Y%m%d")
        ds.StudyTime = f"{8 + n % 10:02d}0000"
        ds.Modality = "CT"
        ds.SeriesNumber = 1
        ds.InstanceNumber = i + 1
        ds.InstitutionName = "H04"
        ds.save_as(folder / f"{n:04d}-{i:04d}.dcm", enforce_file_format=True)
    return study_uid


@contextmanager
def orthanc(
    tmp: Path,
    *,
    cap: int = 0,
    get: bool = True,
    receivers: dict[str, int] | None = None,
    ports: tuple[int, int] | None = None,
) -> Iterator[dict]:
    """Orthanc on loopback with its own storage; ``cap`` limits C-FIND answers; yields its ports (``ports``:
    DICOM and HTTP ports to reuse, for a restart)."""
    dicom_port, http_port = ports or (free_port(), free_port())
    modalities = {ae: [ae, "127.0.0.1", port] for ae, port in (receivers or {}).items()}
    config = {
        "Name": "radlake-test",
        "StorageDirectory": str(tmp / "orthanc-db"),
        "IndexDirectory": str(tmp / "orthanc-db"),
        "Plugins": [],
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowMove": True,
        "DicomAlwaysAllowGet": get,
        "LimitFindResults": cap,
        "DicomModalities": modalities,
        "StableAge": 1,
        "SaveJobs": False,
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "orthanc.json").write_text(json.dumps(config))
    log = (tmp / "orthanc.log").open("wb")
    proc = subprocess.Popen(["Orthanc", str(tmp / "orthanc.json")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/system", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        yield {"dicom": dicom_port, "http": http_port, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def orthanc_upload(http_port: int, files: list[Path]) -> None:
    """Store files in Orthanc through its REST API."""
    for path in files:
        req = urllib.request.Request(f"http://127.0.0.1:{http_port}/instances", data=path.read_bytes(), method="POST")
        urllib.request.urlopen(req, timeout=30).read()


@contextmanager
def dcmqrscp(tmp: Path, files: list[Path], receivers: dict[str, int]) -> Iterator[int]:
    """DCMTK's dcmqrscp (C-FIND, C-MOVE; no C-GET for this config) serving ``files``; yields its port."""
    port = free_port()
    db = tmp / "dcmqr-db"
    db.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, db / path.name)
    subprocess.run(["dcmqridx", str(db), *[str(db / p.name) for p in files]], check=True, capture_output=True)
    hosts = "\n".join(f"{ae} = ({ae}, 127.0.0.1, {p})" for ae, p in receivers.items())
    cfg = tmp / "dcmqrscp.cfg"
    cfg.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
        f"HostTable BEGIN\n{hosts}\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
        f"AETable BEGIN\nDCMQR {db} R (200, 1024mb) ANY\nAETable END\n"
    )
    proc = subprocess.Popen(
        ["dcmqrscp", "-c", str(cfg), "--disable-get", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # listening once a connection is accepted
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # dcmqrscp may sit in an association's release past SIGTERM
            proc.kill()
            proc.wait(10)
