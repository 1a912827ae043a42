"""Reading files for parsing: large files are memory-mapped (header pages only parsed), vanished files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dicom_corpus import dataset_bytes, make_dataset

from ingestion.dicom.workers import MMAP_FROM, parse_one, parse_paths


def test_large_file_is_hashed_whole_and_parsed_from_its_header(tmp_path: Path) -> None:
    ds = make_dataset("1.2.826.0.1.3680043.10.543.55.1", Rows=2048, Columns=4352)
    ds.PixelData = bytes(2048 * 4352 * 2)  # 17 MiB of pixels
    path = tmp_path / "big"
    path.write_bytes(dataset_bytes(ds))
    assert path.stat().st_size >= MMAP_FROM
    frow, irow = parse_one(str(path))
    assert frow is not None and irow is not None
    assert frow["parsed"] and frow["file_size"] == path.stat().st_size
    assert frow["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert irow["sop_instance_uid"] == "1.2.826.0.1.3680043.10.543.55.1"
    assert len(irow["header_json"]) < 10_000  # the pixels are not in the header JSON


def test_vanished_files_are_reported_not_landed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(dataset_bytes(make_dataset("1.2.826.0.1.3680043.10.543.55.2")))
    chunk = parse_paths([str(tmp_path / "gone"), str(real)])
    assert chunk.vanished == [str(tmp_path / "gone")]
    assert chunk.files.column("file_path").to_pylist() == [str(real)]
    assert chunk.instances.num_rows == 1
