"""Reading files for parsing: large files are memory-mapped (header pages only parsed), vanished files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_a_fifo_swapped_in_after_the_walk_is_a_reject_not_a_hang(tmp_path: Path) -> None:
    import os
    import threading

    path = tmp_path / "IM1"
    os.mkfifo(path)  # the walk saw a file here; a FIFO took its place before the read
    result: list = []
    reader = threading.Thread(target=lambda: result.append(parse_one(str(path))), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the stuck open() so the thread can end
        with open(path, "wb"):
            pass
        reader.join(5)
        pytest.fail("reading a FIFO blocked: the ingest (and its lock) would hang for ever")
    frow, irow = result[0]
    assert irow is None and frow["reason"] == "not_a_regular_file: a FIFO"


def test_a_file_over_the_size_cap_is_rejected_unread(tmp_path: Path) -> None:
    from radlake.config import DicomLimits

    path = tmp_path / "sparse.dcm"
    with open(path, "wb") as fh:
        fh.truncate(3 << 20)  # sparse: nothing to read, but hashing it would read it all
    frow, irow = parse_one(str(path), limits=DicomLimits(max_file_bytes=2 << 20))
    assert irow is None and frow["sha256"] is None and frow["file_size"] == 3 << 20
    assert frow["reason"].startswith("file_too_large: 3145728 bytes")


def test_parsing_workers_start_lean() -> None:
    """A worker imports only what parsing needs (no numpy, pandas, pydantic, YAML, configuration, catalog or CLI):
    its start-up was a third of a 20,000-file ingest's CPU (issue 30); its limits keep the configured defaults."""
    import pickle

    from ingestion.dicom.header import ParseLimits
    from radlake.config import DicomLimits

    assert ParseLimits.of(DicomLimits()) == ParseLimits()
    assert ParseLimits.of(DicomLimits(max_depth=7)).max_depth == 7
    # What a spawned worker does: run the pool's initializer, then import the work's module and unpickle its args.
    probe = (
        "import pickle, sys; from ingestion.dicom.worker_boot import worker_init; worker_init(); "
        "import ingestion.dicom.workers as w; pickle.loads(sys.stdin.buffer.read()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml', 'typer', 'pandas', 'numpy') "
        "or m in ('radlake.config', 'radlake.catalog', 'radlake.cli')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], input=pickle.dumps(ParseLimits()), capture_output=True, check=True
    )
    assert out.stdout.decode().strip() == "[]"
