"""``dicom://AETITLE@HOST:PORT``: the one parser of DICOM peer addresses (PACS pull sources, routing targets)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from radlake.errors import ConfigError

_PEER = re.compile(r"dicom://(?P<ae>[^@/\\]{1,16})@(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})/?")


@dataclass(frozen=True)
class DicomPeer:
    """A DICOM application entity on the network: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """The peer written back as ``dicom://AE@HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"dicom://{self.ae_title}@{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_peer(text: str) -> DicomPeer:
    """Parse ``dicom://AETITLE@HOST:PORT`` (an IPv6 host in brackets).

    Parameters
    ----------
    text
        The address, e.g. ``dicom://ORTHANC@127.0.0.1:4242``.

    Returns
    -------
    DicomPeer
        AE title (1 to 16 characters, no backslash, surrounding spaces removed), host and port.

    Raises
    ------
    ConfigError
        One line naming the address and what is wrong with it.

    Examples
    --------
    >>> parse_peer("dicom://PACS1@10.0.0.5:104")
    DicomPeer(ae_title='PACS1', host='10.0.0.5', port=104)
    """
    match = _PEER.fullmatch(text.strip())
    shown = text.strip()[:80]
    if match is None:
        raise ConfigError(f"{shown!r}: a DICOM peer is written dicom://AETITLE@HOST:PORT")
    ae = match["ae"].strip()
    port = int(match["port"])
    if not ae or not (ae.isascii() and ae.isprintable()):
        raise ConfigError(f"{shown!r}: the AE title must be 1-16 printable ASCII characters")
    if not 0 < port <= 65535:
        raise ConfigError(f"{shown!r}: port {port} is outside 1-65535")
    return DicomPeer(ae_title=ae, host=match["host"].strip("[]"), port=port)
