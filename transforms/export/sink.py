"""Where an export's files go: a local folder or an S3 prefix, each file written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


class Sink:
    """Files below one destination (``/path/dir`` or ``s3://bucket/prefix``), by path relative to it."""

    def __init__(self, destination: str) -> None:
        self.destination = destination.rstrip("/")
        self._s3 = self.destination.startswith("s3://")
        if self._s3:
            import pyarrow.fs as pafs

            self._fs = pafs.S3FileSystem(
                endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
                region=os.environ.get("AWS_REGION", "us-east-1"),
            )
            self._base = self.destination.removeprefix("s3://")
        else:
            Path(self.destination).mkdir(parents=True, exist_ok=True)

    def write(self, relative: str, data: bytes) -> None:
        """Write one file; a reader never sees half of it (a rename locally, a single PUT on S3)."""
        if self._s3:
            with self._fs.open_output_stream(f"{self._base}/{relative}") as out:
                out.write(data)
            return
        target = Path(self.destination) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def read(self, relative: str) -> bytes | None:
        """A file's bytes, or None when it is not there."""
        try:
            if self._s3:
                with self._fs.open_input_stream(f"{self._base}/{relative}") as stream:
                    return bytes(stream.read())
            return (Path(self.destination) / relative).read_bytes()
        except (FileNotFoundError, OSError):
            return None
