"""Window splitting on its own: a PACS stand-in that caps C-FIND answers at a count, with a final status
other than success (as Orthanc) or with success once the cap is known."""

from __future__ import annotations

from datetime import date, timedelta

from pydicom.dataset import Dataset

from ingestion.pacs.find import Finder, find_window
from radlake.dicom_peer import parse_peer


class CappedPacs(Finder):
    """Answers study-level queries from a list of (date, hour) studies, at most ``cap`` answers."""

    def __init__(self, studies: list[tuple[date, int]], cap: int) -> None:
        super().__init__(parse_peer("dicom://FAKE@127.0.0.1:1"), "RADLAKE", 5)
        self.data = studies
        self.cap = cap

    def query(self, identifier: Dataset) -> tuple[list[Dataset], int]:
        lo_text, _, hi_text = str(identifier.StudyDate).partition("-")
        lo = date.fromisoformat(f"{lo_text[:4]}-{lo_text[4:6]}-{lo_text[6:]}")
        hi = date.fromisoformat(f"{hi_text[:4]}-{hi_text[4:6]}-{hi_text[6:]}") if hi_text else lo
        hours = (0, 24)
        if "StudyTime" in identifier:
            start, end = str(identifier.StudyTime).split("-")
            hours = (int(start[:2]), int(end[:2]) + 1)
        answers = []
        for n, (day, hour) in enumerate(self.data):
            if lo <= day <= hi and hours[0] <= hour < hours[1]:
                ds = Dataset()
                ds.StudyInstanceUID = f"1.2.3.{n}"
                ds.StudyDate = f"{day:%Y%m%d}"
                ds.NumberOfStudyRelatedInstances = 1
                answers.append(ds)
        return (answers[: self.cap], 0xFE00) if len(answers) > self.cap else (answers, 0x0000)


def test_capped_windows_split_to_days_then_hours_and_find_everything() -> None:
    first = date(2026, 11, 1)
    studies = [(first + timedelta(days=n % 10), 8 + n % 9) for n in range(120)]
    result = find_window(CappedPacs(studies, cap=7), first, first + timedelta(days=9))
    assert len(result.studies) == 120 and result.splits > 10 and not result.capped


def test_an_hour_still_capped_is_reported() -> None:
    first = date(2026, 11, 1)
    result = find_window(CappedPacs([(first, 9)] * 5, cap=3), first, first)
    assert len(result.studies) == 3 and result.capped == ["2026-11-01 09:00"]
