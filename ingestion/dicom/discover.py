"""Find input files under folders, and tell DICOM from other content by its first bytes (not by file name)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from radlake.errors import DataError

# Magic numbers of what else lands in PACS export and share folders, for a specific reject reason.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"BM", "BMP image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!", "RAR archive"),
    (b"\xd0\xcf\x11\xe0", "MS Office document"),
)

# Groups a data set may start with when a file has no preamble: file meta (0002) or the usual first groups.
FIRST_GROUPS = frozenset({0x0002, 0x0008, 0x0010, 0x0018, 0x0020})

# What radlake itself writes while receiving (a temporary file that becomes a DICOM file on rename).
PARTIAL_SUFFIX = ".radlake-partial"


def has_dicom_prefix(head: bytes) -> bool:
    """Whether the file carries the 128-byte preamble and the ``DICM`` prefix (PS3.10 7.1)."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def looks_like_raw_dataset(head: bytes) -> bool:
    """Whether a file without preamble starts like a DICOM data set (first tag in a usual group).

    Old PACS exports and ACR-NEMA style files hold a bare data set, usually implicit VR little endian.
    """
    if len(head) < 8:
        return False
    group_le = head[0] | head[1] << 8
    group_be = head[0] << 8 | head[1]
    if group_le not in FIRST_GROUPS and group_be not in FIRST_GROUPS:
        return False
    vr = head[4:6]
    if vr.isalpha() and vr.isupper():
        return True  # explicit VR
    # Implicit VR: a 4-byte length that is not absurd.
    length = int.from_bytes(head[4:8], "little" if group_le in FIRST_GROUPS else "big")
    return length < 1 << 24 or length == 0xFFFFFFFF


def describe_non_dicom(head: bytes) -> str:
    """A short description of what a non-DICOM file holds, for the reject reason."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    sample = head[:4096]
    if sample.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return "text file"
    if b"\x00" not in sample:
        try:
            sample.decode("utf-8")
            return "text file"
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 3:
                return "text file"  # a multi-byte character cut at the sample's end
        printable = sum(1 for b in sample if b >= 0x20 or b in (9, 10, 13))
        if printable >= 0.95 * len(sample):
            return "text file"
    return "unrecognised content (no DICM prefix at byte 128 and no data set at byte 0)"


def check_paths(paths: Sequence[Path | str], *, missing_ok: bool = False) -> list[Path]:
    """Absolute paths of the inputs, each an existing file or folder.

    Parameters
    ----------
    missing_ok
        Leave out inputs that do not exist instead of failing (files listed by a sensor may be gone).

    Raises
    ------
    DataError
        An input does not exist or is neither a file nor a folder.
    """
    if not paths:
        raise DataError("no input folders or files given")
    out: list[Path] = []
    for p in paths:
        path = Path(os.path.abspath(os.path.expanduser(str(p))))
        if not path.exists():
            if missing_ok:
                continue
            raise DataError(f"{path}: no such file or folder")
        if not (path.is_dir() or path.is_file()):
            raise DataError(f"{path}: neither a regular file nor a folder")
        out.append(path)
    return out


def walk_files(roots: Iterable[Path]) -> Iterator[str]:
    """Every regular file under the roots as absolute paths: a folder's files, then its sub-folders, by name.

    The order is deterministic so that a re-run classifies duplicates the same way as a clean run. A root
    inside an earlier root is skipped (its files are already walked). Folder symlinks are not followed
    (loops); file symlinks are. radlake's own partial files are left out.
    """
    for root_s in _outermost(str(r) for r in roots):
        if os.path.isfile(root_s):
            yield root_s
            continue
        stack = [root_s]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue  # an unreadable folder holds no files we can account for
            subdirs = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.path)
                        continue
                    if not entry.is_file(follow_symlinks=True):
                        continue
                except OSError:
                    continue
                if entry.name.endswith(PARTIAL_SUFFIX):
                    continue
                yield entry.path
            stack.extend(reversed(subdirs))


def _outermost(roots: Iterable[str]) -> list[str]:
    """The roots in given order, without repeats and without those inside another root."""
    given = list(dict.fromkeys(roots))
    folders = set(given)
    kept = []
    for r in given:
        parent, up = r, os.path.dirname(r)
        inside = False
        while up != parent:
            if up in folders:
                inside = True
                break
            parent, up = up, os.path.dirname(up)
        if not inside:
            kept.append(r)
    return kept
