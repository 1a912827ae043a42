"""Text files people hand to radlake (radlake.yaml, CSVs) are UTF-8: when one is not, say where, in one line."""

from __future__ import annotations

import codecs
from pathlib import Path

_CHUNK = 1 << 20  # bytes read at a time: the check never holds a whole (possibly huge) file


def not_utf8_reason(path: str | Path) -> str:
    """A one-line reason naming the file, the first line that is not UTF-8 and, if it fits, the likely encoding.

    Reads the file in chunks with an incremental decoder, so memory stays bounded whatever the file's size.

    Parameters
    ----------
    path
        The file that failed to decode as UTF-8.

    Returns
    -------
    str
        For example ``names.csv: line 3 is not UTF-8 (it reads as GBK/GB18030): save the file as UTF-8``.
    """
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    head = b""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if not head:
                    head = chunk
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as err:
                    # err.start counts from the bytes the decoder still held from the previous chunk (at most 3).
                    held = len(err.object) - len(chunk)
                    line += chunk[: max(err.start - held, 0)].count(b"\n")
                    break
                line += chunk.count(b"\n")
            else:
                return f"{path}: the file ends inside a UTF-8 character: save the file as UTF-8"
    except OSError as err:
        return f"{path}: cannot be read ({err.strerror or type(err).__name__})"
    hint = ""
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head)  # not final: the chunk may end mid-character
        hint = " (it reads as GBK/GB18030, a Windows default in China)"
    except UnicodeDecodeError:
        pass
    return f"{path}: line {line} is not UTF-8{hint}: save the file as UTF-8"
