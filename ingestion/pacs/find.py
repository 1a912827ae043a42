"""C-FIND at study level over a date window, split when the PACS caps its answers (detected, not assumed).

A PACS that stops answering at its limit says so in one of two ways: a final status other than success
(Orthanc ends with 0xFE00, "cancelled") or, for those that end with success anyway, exactly as many answers as
a window already found capped. Either way the window is split in two and each half asked again, down to one
day, then halves of that day by study time (down to one hour); a window still capped at one hour is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydicom.dataset import Dataset

from radlake.dicom_peer import DicomPeer
from radlake.errors import SourceUnreachableError

log = logging.getLogger(__name__)

SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True)
class StudyHit:
    """One study a PACS answered: its UID, accession, date and how many instances the PACS says it holds."""

    study_instance_uid: str
    accession_number: str | None
    study_date: date | None
    instances: int | None


@dataclass
class FindResult:
    """Every study of a window, the queries it took, and the windows still capped at the finest split."""

    studies: dict[str, StudyHit] = field(default_factory=dict)
    queries: int = 0
    splits: int = 0
    capped: list[str] = field(default_factory=list)


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _day(value: object) -> date | None:
    text = str(value or "")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) >= 8 else None
    except ValueError:
        return None


class Finder:
    """C-FIND queries to one peer on one association per query (short, so a PACS restart costs one query)."""

    def __init__(self, peer: DicomPeer, calling_ae: str, timeout: float) -> None:
        self.peer = peer
        self.calling_ae = calling_ae
        self.timeout = timeout
        self.learnt_cap: int | None = None

    def query(self, identifier: Dataset) -> tuple[list[Dataset], int]:
        """Send one study-root C-FIND; the answers and the final status.

        Raises
        ------
        SourceUnreachableError
            No association, or it broke before the final status.
        """
        from pynetdicom import AE
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        assoc = ae.associate(self.peer.host, self.peer.port, ae_title=self.peer.ae_title)
        if not assoc.is_established:
            raise SourceUnreachableError(f"{self.peer.url}: no association for C-FIND")
        answers: list[Dataset] = []
        final: int | None = None
        try:
            for status, ident in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
                if not status:
                    break  # timeout or abort: no final status
                code = int(status.Status)
                if code in PENDING:
                    if ident is not None:
                        answers.append(ident)
                else:
                    final = code
        finally:
            if assoc.is_established:
                assoc.release()
        if final is None:
            raise SourceUnreachableError(f"{self.peer.url}: C-FIND ended without a final status")
        return answers, final

    def studies(self, first: date, last: date, times: tuple[int, int] | None = None) -> tuple[list[StudyHit], bool]:
        """The studies of days ``first``..``last`` (hours ``times`` of one day); whether the answer was capped."""
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = ""
        q.AccessionNumber = ""
        q.NumberOfStudyRelatedInstances = ""
        q.StudyDate = f"{first:%Y%m%d}-{last:%Y%m%d}" if first != last else f"{first:%Y%m%d}"
        if times is not None:
            q.StudyTime = f"{times[0]:02d}0000-{times[1] - 1:02d}5959"
        answers, final = self.query(q)
        hits = [
            StudyHit(
                str(a.StudyInstanceUID),
                str(a.get("AccessionNumber", "") or "") or None,
                _day(a.get("StudyDate")),
                _int(a.get("NumberOfStudyRelatedInstances")),
            )
            for a in answers
            if a.get("StudyInstanceUID")
        ]
        capped = final != SUCCESS or (self.learnt_cap is not None and len(hits) == self.learnt_cap)
        if final not in (SUCCESS, 0xFE00):
            raise SourceUnreachableError(f"{self.peer.url}: C-FIND failed with status 0x{final:04X}")
        if capped and final != SUCCESS and hits:
            self.learnt_cap = len(hits)
        return hits, capped

    def instance_count(self, study_uid: str) -> int:
        """How many instances the PACS lists for a study at instance level (when the study count is absent or
        disagrees with what arrived)."""
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = study_uid
        q.SeriesInstanceUID = ""
        q.SOPInstanceUID = ""
        answers, final = self.query(q)
        if final != SUCCESS:
            raise SourceUnreachableError(f"{self.peer.url}: instance-level C-FIND ended with 0x{final:04X}")
        return len({str(a.SOPInstanceUID) for a in answers if a.get("SOPInstanceUID")})


def find_window(finder: Finder, first: date, last: date) -> FindResult:
    """Every study of the days ``first``..``last``, splitting windows the PACS caps."""
    result = FindResult()
    todo: list[tuple[date, date, tuple[int, int] | None]] = [(first, last, None)]
    while todo:
        lo, hi, times = todo.pop()
        hits, capped = finder.studies(lo, hi, times)
        result.queries += 1
        if not capped:
            for hit in hits:
                result.studies[hit.study_instance_uid] = hit
            continue
        result.splits += 1
        if lo < hi:
            mid = lo + timedelta(days=(hi - lo).days // 2)
            todo += [(lo, mid, None), (mid + timedelta(days=1), hi, None)]
        elif times is None or times[1] - times[0] > 1:
            start, end = times or (0, 24)
            half = (start + end) // 2
            todo += [(lo, hi, (start, half)), (lo, hi, (half, end))]
        else:
            # One hour of one day still capped: take what came and say so (the next pull asks again).
            for hit in hits:
                result.studies[hit.study_instance_uid] = hit
            result.capped.append(f"{lo:%Y-%m-%d} {times[0]:02d}:00")
    return result
