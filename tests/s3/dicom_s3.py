"""Small DICOM folders for the S3 tests (instances from the DICOM tests' corpus helper)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dicom"))
from dicom_corpus import UID_ROOT, make_dataset


def write_instances(folder: Path, n: int, *, tag: int, pad: int = 0) -> list[str]:
    """``n`` DICOM files of one study each under ``folder``; returns their SOP Instance UIDs.

    ``pad``: bytes of filler text per file (a large header, for disk-full cases).
    """
    folder.mkdir(parents=True, exist_ok=True)
    sops = []
    for i in range(n):
        sop = f"{UID_ROOT}.{tag}.{i + 1}"
        # Random text: it does not compress, so ``pad`` bytes of header take about that much room in the lake.
        extra = {"ImageComments": secrets.token_hex(pad // 2)} if pad else {}
        make_dataset(sop, study=f"{tag}{i:03d}", series="1", **extra).save_as(
            folder / f"f{i:03d}.dcm", enforce_file_format=True
        )
        sops.append(sop)
    return sops
