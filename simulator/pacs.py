"""The simulated hospital's PACS: a small DICOM Query/Retrieve SCP (C-FIND, C-GET, C-MOVE) over its storage folder.

It serves the files the simulator wrote under ``pacs/<institution>/`` as a PACS would: a study is found by
its date (a header whose Study Date is not a date is indexed under its Series Date, as a PACS keeps the day it
filed the study), each SOP instance once (a second file of the same instance is not a second instance), and a
file it cannot read is not in its database at all. Loopback only; a test or the demo starts and stops it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from simulator.dicom_writer import SOP_CLASSES

log = logging.getLogger(__name__)

AE_TITLE = "SIMPACS"
_DA = re.compile(r"\d{8}")
_INDEX_TAGS = [
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyDate", "SeriesDate", "StudyTime",
    "AccessionNumber", "PatientID", "Modality",
]  # fmt: skip


@dataclass
class _Study:
    uid: str
    day: str
    time: str
    accession: str
    patient_id: str
    instances: dict[str, tuple[str, Path]] = field(default_factory=dict)  # SOP UID → (series UID, file)
    modalities: set[str] = field(default_factory=set)


def _is_date(value: object) -> bool:
    text = str(value or "")
    try:
        return bool(_DA.fullmatch(text)) and date(int(text[:4]), int(text[4:6]), int(text[6:])) is not None
    except ValueError:
        return False


def index_folder(root: Path) -> dict[str, _Study]:
    """Every readable instance under ``root`` by study (the PACS's database)."""
    studies: dict[str, _Study] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=_INDEX_TAGS)
            study_uid, sop_uid = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
        except Exception:  # a file a PACS cannot parse (of any fault) is one it never filed
            continue
        day = next((str(d) for d in (ds.get("StudyDate"), ds.get("SeriesDate")) if _is_date(d)), "")
        study = studies.setdefault(
            study_uid,
            _Study(study_uid, day, str(ds.get("StudyTime") or ""), str(ds.get("AccessionNumber") or ""),
                   str(ds.get("PatientID") or "")),
        )  # fmt: skip
        study.instances.setdefault(sop_uid, (str(ds.get("SeriesInstanceUID") or ""), path))
        study.modalities.add(str(ds.get("Modality") or ""))
    return studies


def _in_range(value: str, query: str) -> bool:
    """DICOM range matching of a DA/TM value (``A``, ``A-B``, ``A-``, ``-B``; empty matches all)."""
    if not query:
        return True
    if "-" not in query:
        return value.startswith(query) if len(query) < len(value) else value == query
    lo, hi = query.split("-", 1)
    width = max(len(lo), len(hi))
    v = value[:width]
    return bool(v) and (not lo or v >= lo) and (not hi or v <= hi)


class SimulatedPacs:
    """A Query/Retrieve SCP over a folder of DICOM files, on loopback.

    Parameters
    ----------
    root
        The PACS's storage folder.
    move_destinations
        AE title → (host, port) the PACS may C-MOVE to (the AEs registered at it).
    """

    def __init__(self, root: Path, move_destinations: dict[str, tuple[str, int]] | None = None) -> None:
        self.studies = index_folder(root)
        self.destinations = dict(move_destinations or {})
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def instances(self) -> int:
        """Instances the PACS holds."""
        return sum(len(s.instances) for s in self.studies.values())

    def start(self, port: int = 0) -> int:
        """Start serving on 127.0.0.1 (``port`` 0: a free one); returns the port."""
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
        from pynetdicom.sop_class import (  # type: ignore[attr-defined]
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelMove,
        )

        ae = AE(ae_title=AE_TITLE)
        for model in (
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelMove,
        ):
            ae.add_supported_context(model)
        # Only the storage classes the simulator writes: matching a caller's hundred-odd proposed contexts
        # against every storage class costs the negotiation most of a second in pure Python.
        for sop_class in sorted(SOP_CLASSES.values()):
            # C-GET sends on the caller's association: the caller takes the storage SCP role.
            ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES[:2], scu_role=False, scp_role=True)
            ae.add_requested_context(sop_class)  # C-MOVE: the PACS calls the destination
        handlers: list[Any] = [
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_GET, self._on_get),
            (evt.EVT_C_MOVE, self._on_move),
        ]
        self._server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop serving (open associations are closed)."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> SimulatedPacs:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- handlers ------------------------------------------------------------------------------------------

    def _matching(self, q: Dataset) -> list[_Study]:
        uid = str(q.get("StudyInstanceUID") or "")
        acc = str(q.get("AccessionNumber") or "")
        return [
            s
            for s in self.studies.values()
            if (not uid or s.uid in uid.split("\\"))
            and (not acc or s.accession == acc)
            and _in_range(s.day, str(q.get("StudyDate") or ""))
            and _in_range(s.time, str(q.get("StudyTime") or ""))
        ]

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        q = event.identifier
        level = str(q.get("QueryRetrieveLevel") or "")
        studies = self._matching(q)
        if level == "STUDY":
            for s in studies:
                if event.is_cancelled:
                    yield 0xFE00, None
                    return
                answer = Dataset()
                answer.QueryRetrieveLevel = "STUDY"
                answer.StudyInstanceUID = s.uid
                answer.StudyDate = s.day
                answer.StudyTime = s.time
                answer.AccessionNumber = s.accession
                answer.NumberOfStudyRelatedInstances = str(len(s.instances))
                answer.ModalitiesInStudy = sorted(m for m in s.modalities if m)
                yield 0xFF00, answer
        elif level in ("IMAGE", "SERIES"):
            for s in studies:
                seen: set[str] = set()
                for sop, (series, _path) in sorted(s.instances.items()):
                    key = sop if level == "IMAGE" else series
                    if key in seen:
                        continue
                    seen.add(key)
                    answer = Dataset()
                    answer.QueryRetrieveLevel = level
                    answer.StudyInstanceUID = s.uid
                    answer.SeriesInstanceUID = series
                    if level == "IMAGE":
                        answer.SOPInstanceUID = sop
                    yield 0xFF00, answer
        else:
            yield 0xA900, None  # identifier does not match the SOP class
            return
        yield 0x0000, None

    def _files(self, q: Dataset) -> list[Path]:
        uid = str(q.get("StudyInstanceUID") or "")
        if not uid:
            return []  # a retrieve names its study: never the whole PACS
        return [path for s in self._matching(q) for _series, path in sorted(s.instances.values())]

    def _send(self, event: Any, files: list[Path]) -> Iterator[tuple[int, Dataset | None]]:
        for path in files:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, dcmread(path)

    def _on_get(self, event: Any) -> Iterator[Any]:
        files = self._files(event.identifier)
        yield len(files)
        yield from self._send(event, files)

    def _on_move(self, event: Any) -> Iterator[Any]:
        where = self.destinations.get(str(event.move_destination).strip())
        if where is None:
            yield None, None  # unknown destination: the SCU gets "move destination unknown" (0xA801)
            return
        yield where[0], where[1]
        files = self._files(event.identifier)
        yield len(files)
        yield from self._send(event, files)
