"""Finding files: deterministic order, overlapping roots, radlake's own partial files; content sniffing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingestion.dicom.discover import PARTIAL_SUFFIX, check_paths, describe_non_dicom, walk_files
from radlake.errors import DataError


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")


def test_walk_order_is_deterministic(tmp_path: Path) -> None:
    _touch(tmp_path, "b/2", "b/1", "a/z/9", "a/y", "c", f"a/.tmp{PARTIAL_SUFFIX}")
    os.symlink(tmp_path / "a", tmp_path / "loop")  # folder symlinks are not followed
    got = [os.path.relpath(p, tmp_path) for p in walk_files([tmp_path])]
    assert got == ["c", "a/y", "a/z/9", "b/1", "b/2"]  # a folder's files, then its sub-folders


def test_roots_inside_other_roots_are_walked_once(tmp_path: Path) -> None:
    _touch(tmp_path, "a/1", "a/b/2", "c/3")
    got = list(walk_files([tmp_path / "a" / "b", tmp_path / "a", tmp_path / "a" / "1", tmp_path / "c"]))
    assert sorted(got) == sorted(str(tmp_path / r) for r in ("a/1", "a/b/2", "c/3"))
    assert len(got) == len(set(got))


def test_check_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no input"):
        check_paths([])
    with pytest.raises(DataError, match=r"missing: no such file or folder"):
        check_paths([tmp_path / "missing"])
    assert check_paths([tmp_path / "missing", tmp_path], missing_ok=True) == [tmp_path]


@pytest.mark.parametrize(
    ("head", "what"),
    [
        ("导出完成\n".encode(), "text file"),
        ("导出完成\n".encode("gb18030") * 10, "text file"),
        (b"\x89PNG\r\n\x1a\n", "PNG image"),
        (b"PK\x03\x04rest", "ZIP archive"),
        (bytes(range(256)), "unrecognised content"),
    ],
)
def test_describe_non_dicom(head: bytes, what: str) -> None:
    assert describe_non_dicom(head).startswith(what)
