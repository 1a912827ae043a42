"""C-MOVE a study to radlake's receiver, or C-GET it on the pull's own association into a storage folder."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from radlake.dicom_peer import DicomPeer

log = logging.getLogger(__name__)

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
STATUS_SUCCESS = 0x0000


@dataclass(frozen=True)
class Retrieved:
    """The end of one retrieve: the final status (None when the association broke) and sub-operation counts."""

    status: int | None
    completed: int
    failed: int
    warning: int
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_SUCCESS


def _identifier(study_uid: str) -> Dataset:
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = study_uid
    return q


def _final(responses: Any) -> Retrieved:
    last: Dataset | None = None
    for status, _ in responses:
        if not status:
            return Retrieved(None, 0, 0, 0, "the association broke before the final status")
        last = status
    if last is None:
        return Retrieved(None, 0, 0, 0, "no answer")
    code = int(last.Status)
    return Retrieved(
        code,
        int(last.get("NumberOfCompletedSuboperations", 0) or 0),
        int(last.get("NumberOfFailedSuboperations", 0) or 0),
        int(last.get("NumberOfWarningSuboperations", 0) or 0),
        "" if code == STATUS_SUCCESS else f"status 0x{code:04X}",
    )


def move_study(peer: DicomPeer, calling_ae: str, destination: str, study_uid: str, timeout: float) -> Retrieved:
    """Ask the peer to C-MOVE a study to ``destination`` (an AE title the PACS knows: radlake's receiver)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove  # type: ignore[attr-defined]

    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.network_timeout = timeout
    ae.dimse_timeout = max(timeout, 600.0)  # a large study takes a while between pending answers
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    if not assoc.is_established:
        return Retrieved(None, 0, 0, 0, "no association (the PACS is down or refuses radlake's AE title)")
    try:
        return _final(
            assoc.send_c_move(_identifier(study_uid), destination, StudyRootQueryRetrieveInformationModelMove)
        )
    finally:
        if assoc.is_established:
            assoc.release()


def _answers_find(peer: DicomPeer, calling_ae: str, timeout: float) -> bool:
    """Whether the peer accepts a plain query association (it is up and knows radlake's AE title)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    up = bool(assoc.is_established)
    if up:
        assoc.release()
    return up


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _GetStore:
    """C-STORE sub-operations of a C-GET: each data set written as received (file meta + the raw bytes), fsynced,
    under its SOP Instance UID; never overwriting (a different instance under one UID keeps its digest)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def handle(self, event: Any) -> int:
        from pynetdicom import _config

        tmp = self.folder / f".incoming-{uuid.uuid4().hex}.partial"
        h = hashlib.sha256()
        with tmp.open("wb") as out:
            if _config.STORE_RECV_CHUNKED_DATASET:
                # The receiver (same process) turned on streaming to disk: the data set is in that file, meta
                # included; copied in blocks, never whole in memory.
                with open(event.dataset_path, "rb") as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
            else:
                data = event.encoded_dataset(include_meta=True)
                h.update(data)
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        sop = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        name = sop if _UID.fullmatch(sop) and len(sop) <= 64 else f"sha256-{digest}"
        try:
            for candidate in (self.folder / f"{name}.dcm", self.folder / f"{name}.{digest[:16]}.dcm"):
                try:
                    os.link(tmp, candidate)  # fails if the name exists: never overwrites
                except FileExistsError:
                    if _sha256_of(candidate) == digest:
                        return STATUS_SUCCESS  # the same bytes again
                    continue
                return STATUS_SUCCESS
        finally:
            tmp.unlink(missing_ok=True)
        return 0xA700  # out of resources: too many different instances under one UID


def get_study(peer: DicomPeer, calling_ae: str, study_uid: str, folder: Path, timeout: float) -> Retrieved:
    """C-GET a study on this association, storing its instances into ``folder``."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet  # type: ignore[attr-defined]

    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.network_timeout = timeout
    ae.dimse_timeout = max(timeout, 600.0)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    # At most 128 presentation contexts in all: the storage classes a PACS is likely to hold.
    roles: list[Any] = []
    for context in StoragePresentationContexts[:120]:
        assert context.abstract_syntax is not None
        ae.add_requested_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES[:4])
        roles.append(build_role(context.abstract_syntax, scp_role=True))
    store = _GetStore(folder)
    assoc = ae.associate(
        peer.host, peer.port, ae_title=peer.ae_title, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, store.handle)]
    )
    if not assoc.is_established:
        if _answers_find(peer, calling_ae, timeout):
            # Some PACS (dcmqrscp --disable-get) reject a whole association that proposes C-GET.
            return Retrieved(None, 0, 0, 0, "the PACS refuses C-GET associations: use C-MOVE")
        return Retrieved(None, 0, 0, 0, "no association (the PACS is down or refuses radlake's AE title)")
    try:
        if not any(c.abstract_syntax == StudyRootQueryRetrieveInformationModelGet for c in assoc.accepted_contexts):
            return Retrieved(None, 0, 0, 0, "the PACS refuses C-GET (no accepted context): use C-MOVE")
        return _final(assoc.send_c_get(_identifier(study_uid), StudyRootQueryRetrieveInformationModelGet))
    finally:
        if assoc.is_established:
            assoc.release()
