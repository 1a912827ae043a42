"""A DICOM peer written as ``dicom://AETITLE@HOST:PORT`` (a routing destination given inline)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from radlake.errors import ConfigError

_AE = re.compile(r"[ -~]{1,16}")  # PS3.5: AE is 1-16 printable ASCII characters, no backslash
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True)
class DicomPeer:
    """Where a DICOM peer listens: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"dicom://{self.ae_title}@{self.host}:{self.port}"


def parse_peer(text: str) -> DicomPeer:
    """Parse ``dicom://AETITLE@HOST:PORT``.

    Raises
    ------
    radlake.errors.ConfigError
        The text is not of that form, the AE title is not 1-16 printable characters, or the port is not
        1-65535 (the message repeats the text, which is configuration, never patient data).
    """
    shown = text[:120]
    if not text.startswith("dicom://"):
        raise ConfigError(f"{shown!r}: a DICOM peer is written dicom://AETITLE@HOST:PORT")
    rest = text.removeprefix("dicom://").rstrip("/")
    ae, at, hostport = rest.rpartition("@")
    host, colon, port_text = hostport.rpartition(":")
    if not at or not colon:
        raise ConfigError(f"{shown!r}: a DICOM peer is written dicom://AETITLE@HOST:PORT")
    if not _AE.fullmatch(ae) or "\\" in ae or not ae.strip():
        raise ConfigError(f"{shown!r}: the AE title must be 1-16 printable ASCII characters")
    if not _HOST.fullmatch(host):
        raise ConfigError(f"{shown!r}: {host[:60]!r} is not a host name or address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{shown!r}: the port must be a number from 1 to 65535")
    return DicomPeer(ae.strip(), host.strip("[]"), int(port_text))
