"""The simulator's PACS, asked by DCMTK's findscu and getscu (a client no one here wrote): it finds the studies the
truth lists by date and hands out each readable instance once, a corrupt file never."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from simulator.pacs import AE_TITLE, SimulatedPacs

pytestmark = pytest.mark.integration


def _dcmtk(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def test_findscu_and_getscu_see_what_the_truth_lists(small, tmp_path: Path) -> None:
    files = small.truth("files")
    mine = files[files["institution"] == "h01"]
    readable: dict[str, set[str]] = defaultdict(set)
    for row in mine[(mine["kind"] == "instance") & (mine["corrupt"] == "false")].itertuples():
        readable[row.study_instance_uid].add(row.sop_instance_uid)
    assert (mine["corrupt"] == "true").any() or (mine["kind"] == "duplicate").any()  # the mess is there to skip

    with SimulatedPacs(small.out / "dicom" / "h01") as pacs:
        port = str(pacs.start())
        found = tmp_path / "found"
        found.mkdir()
        _dcmtk(
            "findscu", "-S", "-aet", "TESTER", "-aec", AE_TITLE, "-X", "-od", str(found), "127.0.0.1", port,
            "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyDate=19000101-29991231", "-k", "StudyInstanceUID",
            "-k", "NumberOfStudyRelatedInstances", cwd=tmp_path,
        )  # fmt: skip
        answers = [pydicom.dcmread(p) for p in found.iterdir()]
        counts = {str(a.StudyInstanceUID): int(a.NumberOfStudyRelatedInstances) for a in answers}
        assert counts == {uid: len(sops) for uid, sops in readable.items()}

        study = max(readable, key=lambda u: len(readable[u]))
        got = tmp_path / "got"
        got.mkdir()
        _dcmtk(
            "getscu", "-S", "-aet", "TESTER", "-aec", AE_TITLE, "-od", str(got), "127.0.0.1", port,
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", cwd=tmp_path,
        )  # fmt: skip
        assert {str(pydicom.dcmread(p).SOPInstanceUID) for p in got.iterdir()} == readable[study]
