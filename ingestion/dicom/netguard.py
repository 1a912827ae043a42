"""Bounds on what a DICOM peer can make the receiver hold: PDU size, instance size, where data sets stream to.

pynetdicom reads a whole PDU into memory at the length the peer announces, whatever maximum PDU size was
negotiated, and (unless told otherwise) keeps a C-STORE data set in memory until it is complete. Here:

- a PDU longer than the receiver's ``max_pdu_bytes`` (P-DATA) or 1 MiB (association PDUs, which carry the
  proposed presentation contexts) is refused before it is read: the connection is closed;
- the P-DATA bytes of one request are counted while they arrive; past ``max_instance_bytes`` the connection
  is closed and the partial data set deleted (nothing is stored or acknowledged);
- data sets stream to a file as they arrive (pynetdicom's ``STORE_RECV_CHUNKED_DATASET``), created inside the
  receiver's storage folder (``.incoming``, named ``*.radlake-partial``), so storing it is a hard link, not a
  copy, and a folder scan never takes a partial file for an instance.

The guards apply only to associations of an AE marked with :func:`guard_ae`; other pynetdicom users in the
same process are untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion.dicom.discover import PARTIAL_SUFFIX

log = logging.getLogger(__name__)

ASSOCIATION_PDU_MAX = 1 << 20
"""Largest A-ASSOCIATE/RELEASE/ABORT PDU accepted (a request proposing hundreds of contexts is ~30 KB)."""

_P_DATA = 0x04
_PDV_SLACK = 64  # PDV item headers a sender may count outside the negotiated maximum


@dataclass(frozen=True)
class NetLimits:
    """What one association may send: the largest P-DATA PDU and the largest data set of one request."""

    max_pdu_bytes: int
    max_instance_bytes: int


_incoming: list[Path] = []  # where data sets stream to (the running receiver's ``<storage>/.incoming``)
_installed = threading.Lock()
_done = False


def guard_ae(ae: Any, limits: NetLimits, incoming: Path) -> None:
    """Apply the limits to associations of ``ae`` and stream received data sets into ``incoming``."""
    from pynetdicom import _config

    _install()
    ae._radlake_limits = limits
    incoming.mkdir(parents=True, exist_ok=True)
    _incoming[:] = [incoming]
    _config.STORE_RECV_CHUNKED_DATASET = True


def reset_request(assoc: Any) -> None:
    """Start counting a new request's bytes (call when a request was handled)."""
    assoc._radlake_received = 0


def discard_partial(assoc: Any) -> None:
    """Delete the data set file of a request cut off mid-transfer (connection closed or aborted)."""
    msg = getattr(getattr(assoc, "dimse", None), "message", None)
    fh = getattr(msg, "_data_set_file", None)
    if fh is None:
        return
    with contextlib.suppress(OSError):
        fh.close()
    with contextlib.suppress(OSError):
        os.unlink(fh.name)


def clear_incoming(incoming: Path) -> int:
    """Remove partial data sets left by a crash (their senders got no success status); return how many."""
    n = 0
    if incoming.is_dir():
        for entry in incoming.iterdir():
            if entry.name.endswith(PARTIAL_SUFFIX) and entry.is_file():
                with contextlib.suppress(OSError):
                    entry.unlink()
                    n += 1
    return n


def _temp_file(*args: Any, **kwargs: Any) -> Any:
    kwargs["suffix"] = ".dcm" + PARTIAL_SUFFIX
    if _incoming:
        kwargs["dir"] = str(_incoming[0])
    return tempfile.NamedTemporaryFile(*args, **kwargs)  # pynetdicom closes and deletes it


def _install() -> None:
    global _done
    with _installed:
        if _done:
            return
        from pynetdicom import dimse_messages
        from pynetdicom.transport import AssociationSocket

        original = AssociationSocket.recv

        def recv(self: Any, nr_bytes: int) -> bytearray:
            limits: NetLimits | None = getattr(self.assoc.ae, "_radlake_limits", None)
            if limits is None:
                return original(self, nr_bytes)
            if nr_bytes == 6:  # a PDU header: type, reserved, length (the next read is the PDU's body)
                data = original(self, nr_bytes)
                self._radlake_pdu_type = data[0] if data else None
                return data
            pdu_type = getattr(self, "_radlake_pdu_type", None)
            self._radlake_pdu_type = None
            ceiling = limits.max_pdu_bytes + _PDV_SLACK if pdu_type == _P_DATA else ASSOCIATION_PDU_MAX
            if nr_bytes > ceiling:
                log.warning("closing a connection: its peer announced a %d-byte PDU (limit %d)", nr_bytes, ceiling)
                raise OSError("PDU larger than the receiver's maximum")
            if pdu_type == _P_DATA:
                total = getattr(self.assoc, "_radlake_received", 0) + nr_bytes
                if total > limits.max_instance_bytes + limits.max_pdu_bytes:
                    log.warning("closing a connection: a data set passed %d bytes", limits.max_instance_bytes)
                    raise OSError("data set larger than the receiver's maximum instance size")
                self.assoc._radlake_received = total
            return original(self, nr_bytes)

        AssociationSocket.recv = recv  # type: ignore[method-assign]
        dimse_messages.NamedTemporaryFile = _temp_file  # type: ignore[attr-defined]
        _done = True
