"""``radlake pacs pull`` against two real PACS started here: Orthanc (C-FIND/C-MOVE/C-GET, a C-FIND cap) and
DCMTK's dcmqrscp (C-FIND/C-MOVE, no C-GET). What landed is read back from bronze and compared with the files
the test wrote, not with the pull's own report."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dicom"))
from pacs_fixtures import dcmqrscp, orthanc, orthanc_upload, write_study
from receiver_harness import running_receiver

from ingestion.pacs.pull import pull_studies
from ingestion.pacs.state import load_states
from radlake import catalog, lake
from radlake.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAYS = (date(2026, 11, 1), date(2026, 11, 3))


def _studies(folder: Path, count: int) -> dict[str, list[Path]]:
    """``count`` studies over three days, 2 or 3 instances each: study UID → its files."""
    out = {}
    for n in range(count):
        sub = folder / f"s{n}"
        uid = write_study(sub, date(2026, 11, 1 + n % 3), 2 + n % 2, n)
        out[uid] = sorted(sub.glob("*.dcm"))
    return out


def _landed(settings: Settings) -> tuple[dict[str, int], int]:
    """Distinct instances per study in bronze/dicom_instances, and rows of bronze/dicom_files by outcome."""
    inst = lake.read_arrow(
        settings, catalog.uri(settings, "bronze", "dicom_instances"), ["study_instance_uid", "sop_instance_uid"]
    )
    files = lake.read_arrow(settings, catalog.uri(settings, "bronze", "dicom_files"), ["outcome"])
    per: dict[str, set[str]] = {}
    for study, sop in zip(*(inst.column(i).to_pylist() for i in (0, 1)), strict=True) if inst is not None else []:
        per.setdefault(study, set()).add(sop)
    assert inst is None or inst.num_rows == sum(len(v) for v in per.values()), "an instance landed twice"
    dups = files.column("outcome").to_pylist().count("duplicate") if files is not None else 0
    return {k: len(v) for k, v in per.items()}, dups


def _settings(tmp: Path, **pacs: object) -> Settings:
    return Settings(lake=str(tmp / "lake"), pacs={"associations": 2, **pacs})


def test_orthanc_capped_find_move_gain_and_outage(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    studies = _studies(tmp_path / "src", 7)
    with (
        running_receiver(settings, tmp_path / "received", flush_seconds=0.2) as rport,
        orthanc(tmp_path / "o", cap=3, receivers={"RADLAKE": rport}) as pacs,
    ):
        orthanc_upload(pacs["http"], [f for files in studies.values() for f in files])
        peer = f"dicom://ORTHANC@127.0.0.1:{pacs['dicom']}"
        first = pull_studies(settings, peer, *DAYS, receiver_wait=20)
        landed, dups = _landed(settings)
        assert first.found == 7 and first.splits >= 1 and first.complete == 7 and first.failed == 0
        assert landed == {uid: len(files) for uid, files in studies.items()} and dups == 0

        # A study gains two instances at the PACS: the next pull takes it again, and only it.
        gained = next(iter(sorted(studies)))
        n = int(gained.rsplit(".", 1)[1])  # write_study ends the UID with the study's number
        extra = tmp_path / "extra"
        write_study(extra, date(2026, 11, 1 + n % 3), 2, n, study_uid=gained, start=len(studies[gained]))
        orthanc_upload(pacs["http"], sorted(extra.glob("*.dcm")))
        second = pull_studies(settings, peer, *DAYS, receiver_wait=20)
        landed, dups = _landed(settings)
        assert (second.already_complete, second.complete) == (6, 1)
        assert landed[gained] == len(studies[gained]) + 2
        assert dups == 0  # the re-sent ones are the same bytes: the receiver keeps and lands them once

    # The PACS goes down after the first round of retrievals; a later pull finishes the job.
    settings = _settings(tmp_path / "outage", associations=1)
    with running_receiver(settings, tmp_path / "received2", flush_seconds=0.2) as rport:
        with orthanc(tmp_path / "o2", cap=0, receivers={"RADLAKE": rport}) as pacs:
            orthanc_upload(pacs["http"], [f for files in studies.values() for f in files])
            peer = f"dicom://ORTHANC@127.0.0.1:{pacs['dicom']}"
            calls = []

            def clock() -> datetime:
                calls.append(1)
                if len(calls) == 3:  # before the second round: the PACS dies
                    pacs["proc"].kill()
                    pacs["proc"].wait(10)
                return datetime(2026, 12, 1, 22, 0)

            down = pull_studies(settings, peer, *DAYS, receiver_wait=20, clock=clock)
            assert (down.complete, down.failed) == (4, 3)  # one round of 4 studies per association, then down
            states = load_states(settings, peer)
            assert sorted(r["state"] for r in states.values()) == ["complete"] * 4 + ["failed"] * 3
        with orthanc(tmp_path / "o2", receivers={"RADLAKE": rport}, ports=(pacs["dicom"], pacs["http"])):
            again = pull_studies(settings, peer, *DAYS, receiver_wait=20)
    landed, dups = _landed(settings)
    assert (again.already_complete, again.complete, again.failed) == (4, 3, 0)
    assert landed == {uid: len(files) for uid, files in studies.items()} and dups == 0


def test_get_and_a_pacs_that_refuses_it_and_dcmqrscp_move(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    studies = _studies(tmp_path / "src", 4)
    files = [f for fs in studies.values() for f in fs]
    with orthanc(tmp_path / "o", get=True) as pacs:
        orthanc_upload(pacs["http"], files)
        peer = f"dicom://ORTHANC@127.0.0.1:{pacs['dicom']}"
        got = pull_studies(settings, peer, *DAYS, get=True)
    landed, dups = _landed(settings)
    assert got.complete == 4, {r["peer_status"] for r in load_states(settings, peer).values()}
    assert got.complete == 4 and landed == {uid: len(fs) for uid, fs in studies.items()} and dups == 0

    other = _settings(tmp_path / "b")
    with (
        running_receiver(other, tmp_path / "received", flush_seconds=0.2) as rport,
        dcmqrscp(tmp_path / "q", files, {"RADLAKE": rport}) as port,
    ):
        peer = f"dicom://DCMQR@127.0.0.1:{port}"
        refused = pull_studies(other, peer, *DAYS, get=True)
        assert (refused.found, refused.complete, refused.failed) == (4, 0, 4)
        reasons = {r["peer_status"] for r in load_states(other, peer).values()}
        assert reasons and all("C-GET" in r for r in reasons)
        moved = pull_studies(other, peer, *DAYS, receiver_wait=20)
    landed, dups = _landed(other)
    assert moved.complete == 4 and landed == {uid: len(fs) for uid, fs in studies.items()} and dups == 0
