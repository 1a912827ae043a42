"""The BagIt (RFC 8493) envelope of an export: payload manifests with SHA-256 and MD5, a tag manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from transforms.export.sink import Sink


def write_bag(sink: Sink, payload: Iterable[tuple[str, str, str, int]], info: dict[str, str]) -> None:
    """Write the bag's tag files around a payload already under ``data/``.

    Parameters
    ----------
    payload
        ``(relative path under the bag, sha256, md5, size in bytes)`` of every payload file.
    info
        bag-info.txt fields (the export's cohort, rule hash, counts).
    """
    rows = sorted(payload)
    tags = {
        "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "manifest-sha256.txt": "".join(f"{sha} {path}\n" for path, sha, _, _ in rows),
        "manifest-md5.txt": "".join(f"{md5} {path}\n" for path, _, md5, _ in rows),
        "bag-info.txt": "".join(
            f"{k}: {v}\n"
            for k, v in {
                "Bagging-Date": datetime.now(UTC).date().isoformat(),
                "Payload-Oxum": f"{sum(r[3] for r in rows)}.{len(rows)}",
                **info,
            }.items()
        ),
    }
    for name, text in tags.items():
        sink.write(name, text.encode("utf-8"))
    tagmanifest = "".join(
        f"{hashlib.sha256(text.encode('utf-8')).hexdigest()} {name}\n" for name, text in sorted(tags.items())
    )
    sink.write("tagmanifest-sha256.txt", tagmanifest.encode("utf-8"))
