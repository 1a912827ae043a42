"""Test helpers for routing: synthetic instances, real DCMTK storescp peers, what arrived at them."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import struct
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
SC = "1.2.840.10008.5.1.4.1.1.7"
MODALITY = {CT: "CT", MR: "MR", SC: "OT"}


def write_instances(folder: Path, n: int, sop_class: str, *, study: str | None = None, seed: int = 0) -> list[Path]:
    """``n`` small instances of one SOP class (64x64 16-bit pixels, random) in ``folder``; one study."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    study = study or generate_uid()
    series = generate_uid()
    out = []
    for i in range(n):
        ds = Dataset()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality = MODALITY[sop_class]
        ds.PatientID, ds.PatientName = f"P{seed:04d}", "ROUTE^TEST"
        ds.StudyDate, ds.StudyTime = "20261201", "101500"
        ds.AccessionNumber = f"A{seed:06d}"
        ds.InstitutionName = "Second Hospital"
        ds.StudyDescription = "CHEST CT" if sop_class == CT else "BRAIN MR"
        ds.BurnedInAnnotation = "NO"
        ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
        ds.Rows = ds.Columns = 64
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = rng.randbytes(64 * 64 * 2)
        path = folder / f"{sop}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def dataset_md5(path: Path) -> str:
    """MD5 of the data set after the file meta group: what went over the wire (storescp writes its own meta)."""
    data = path.read_bytes()
    group_length = struct.unpack("<I", data[140:144])[0]  # (0002,0000) UL right after the preamble and DICM
    return hashlib.md5(data[144 + group_length :]).hexdigest()


def sop_uid_of(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)


DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
"""DCMTK leaves Nagle's algorithm on unless told: each small response then waits on a delayed ACK (~90 ms an
instance on loopback here); production peers run with TCP_NODELAY."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REFUSE_SC_CONFIG = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = OppositeEndianExplicit
TransferSyntax3 = LittleEndianImplicit

[[PresentationContexts]]
[NoSecondaryCapture]
PresentationContext1 = CTImageStorage\\Uncompressed
PresentationContext2 = MRImageStorage\\Uncompressed

[[Profiles]]
[Default]
PresentationContexts = NoSecondaryCapture
"""


@dataclass
class StoreSCP:
    """A DCMTK storescp on a loopback port: each copy received is its own file (``+uf``), as received (``+B``)."""

    folder: Path
    ae_title: str
    port: int
    config: Path | None = None
    proc: subprocess.Popen | None = None
    fork: bool = False  # one process per association: takes several associations at once

    def start(self) -> StoreSCP:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = ["storescp", "-aet", self.ae_title, "-od", str(self.folder), "+uf", "+B"]
        if self.config is not None:
            cmd += ["-xf", str(self.config), "Default"]
        if self.fork:
            cmd += ["--fork"]
        self.proc = subprocess.Popen(
            [*cmd, str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=DCMTK_ENV
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"storescp exited: {self.proc.stderr.read().decode()[:500] if self.proc.stderr else ''}"
                )
            time.sleep(0.05)
        raise RuntimeError("storescp did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                # An idle storescp exits on SIGTERM at once; one that does not within a second is killed (it
                # holds nothing a test still reads: each copy is its own file, written as it arrived).
                self.proc.wait(1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def url(self) -> str:
        return f"dicom://{self.ae_title}@127.0.0.1:{self.port}"

    def received(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.endswith(".tmp"))

    def counts(self) -> Counter[str]:
        """SOP Instance UID → copies received."""
        return Counter(sop_uid_of(p) for p in self.received())

    def md5s(self) -> dict[str, str]:
        return {sop_uid_of(p): dataset_md5(p) for p in self.received()}
