"""Send one batch to one destination: C-STORE over one association (pynetdicom SCU), or files to a folder."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from ingestion.routing.rules import Destination

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # PS3.8: at most 128 presentation contexts in one association

# C-STORE statuses (PS3.4 B.2.3): warnings are stored copies; out-of-resources is worth another try.
_STORED = {0x0000, 0xB000, 0xB006, 0xB007, 0x0107, 0x0116}
_TRANSIENT_HIGH = {0xA7}  # 0xA7xx refused: out of resources
_TRANSIENT = {0x0110, 0x0213}  # processing failure, resource limitation


@dataclass(frozen=True)
class Item:
    """One instance to send: the file to send and what presentation context it needs."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: str


@dataclass(frozen=True)
class Answer:
    """What became of one item: stored, or not (``permanent``: trying again cannot help)."""

    stored: bool
    status: int | None = None
    error: str = ""
    permanent: bool = False


def classify(status: int) -> Answer:
    """An answer from a C-STORE status."""
    if status in _STORED or (status >> 8) == 0xB0:
        return Answer(True, status)
    transient = (status >> 8) in _TRANSIENT_HIGH or status in _TRANSIENT
    return Answer(False, status, f"peer status 0x{status:04X}", permanent=not transient)


_RESULTS = {1: "user rejection", 2: "no reason", 3: "SOP class not supported", 4: "transfer syntax not supported"}


class _HeldCheckpoint(threading.Event):
    """A reactor checkpoint that stays clear (the reactor paused) until :meth:`release`."""

    def __init__(self) -> None:
        super().__init__()
        self._held = True

    def set(self) -> None:
        if not self._held:
            super().set()

    def release(self) -> None:
        self._held = False
        super().set()


class BatchFailed(Exception):
    """The whole batch could not be sent (no association, or it broke): every unanswered item is retried."""


def _tls(dest: Destination) -> tuple[ssl.SSLContext, str] | None:
    if dest.tls is None or dest.peer is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(dest.tls.ca) if dest.tls.ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if dest.tls.cert and dest.tls.key:
        ctx.load_cert_chain(str(dest.tls.cert), str(dest.tls.key))
    return ctx, dest.peer.host


def send_dicom(
    dest: Destination, items: list[Item], timeout: float, on_answer: object, on_try: object = lambda item: None
) -> None:
    """C-STORE ``items`` over one association: ``on_try(item)`` before each, ``on_answer(item, Answer)`` as
    each status arrives.

    Items whose presentation context the peer rejected get a permanent answer naming the rejection.

    Raises
    ------
    BatchFailed
        The association could not be made, or broke mid-batch (items not yet answered stay unanswered).
    """
    from pynetdicom import AE

    assert dest.peer is not None and callable(on_answer) and callable(on_try)
    ae = AE(ae_title=dest.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    pairs = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in items})[:MAX_CONTEXTS]
    for sop_class, syntax in pairs:
        ae.add_requested_context(sop_class, [syntax])
    tls = _tls(dest)
    assoc = ae.associate(dest.peer.host, dest.peer.port, ae_title=dest.peer.ae_title, tls_args=tls)
    # The peer's answer per presentation context (PS3.8 9.3.3.2): 1 user rejection, 2 no reason,
    # 3 abstract syntax (SOP class) not supported, 4 transfer syntax not supported. When it refuses every
    # context, pynetdicom aborts the association, yet the answers are known.
    refused = {str(c.abstract_syntax): c.result for c in assoc.rejected_contexts}  # by SOP class
    if not assoc.is_established and not (assoc.is_aborted and refused and len(refused) == len({p[0] for p in pairs})):
        why = "association rejected" if assoc.is_rejected else "association aborted" if assoc.is_aborted else ""
        raise BatchFailed(why or f"cannot connect to {dest.peer.host}:{dest.peer.port}")
    held = _HeldCheckpoint()
    if assoc.is_established:
        # Without TCP_NODELAY each small response waits on the peer's delayed ACK (~40 ms an instance).
        sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # pynetdicom resumes its reactor thread after each C-STORE and pauses it before the next; a fast
        # response can land in that gap, be taken by the reactor ("unexpected C-STORE service message") and
        # the sender waits out the DIMSE timeout. We only send on this association: keep the reactor paused.
        assoc._reactor_checkpoint = held  # type: ignore[attr-defined]
    try:
        wanted = set(pairs)
        for item in items:
            key = (item.sop_class_uid, item.transfer_syntax_uid)
            if key not in wanted:
                continue  # past the 128 contexts of this association: the next batch
            result = refused.get(item.sop_class_uid)
            if result is not None:
                why = f"peer refused the presentation context (result {result}: {_RESULTS.get(result, 'unknown')})"
                on_answer(item, Answer(False, None, why, permanent=int(result) in (3, 4)))
                continue
            if not assoc.is_established:
                raise BatchFailed("the association broke mid-batch")
            on_try(item)
            status = assoc.send_c_store(Path(item.path))
            if "Status" not in status:
                raise BatchFailed("no C-STORE response (timeout or connection lost)")
            on_answer(item, classify(int(status.Status)))
    finally:
        held.release()
        if assoc.is_established:
            assoc.release()


def send_folder(dest: Destination, items: list[tuple[Item, bytes, str]], on_answer: object) -> None:
    """Write each item's bytes as ``<folder>/<relative>`` (a local folder or an S3 prefix), whole or not at all."""
    import os

    assert dest.folder is not None and callable(on_answer)
    s3 = dest.folder.startswith("s3://")
    fs = None
    if s3:
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )
    for item, data, relative in items:
        try:
            if fs is not None:
                with fs.open_output_stream(f"{dest.folder.removeprefix('s3://').rstrip('/')}/{relative}") as out:
                    out.write(data)
            else:
                target = Path(dest.folder) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                tmp.write_bytes(data)
                os.replace(tmp, target)
        except OSError as exc:
            raise BatchFailed(f"cannot write to {dest.folder}: {exc.strerror or type(exc).__name__}") from None
        on_answer(item, Answer(True, None))
