"""The demo's PACS-only hospital: its images are in no folder radlake watches, only in its PACS, which the demo
asks by C-FIND and pulls by C-GET. What lands is what the simulator wrote there (each readable instance once),
every study is complete with the PACS's count, and its exams have their images in silver/exams."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict

import pytest

from radlake import catalog, lake
from radlake.config import load_settings
from simulator.simulate import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_the_pacs_hospital_is_pulled_complete_and_exactly_once(demo_run) -> None:
    workdir, summary = demo_run
    settings = load_settings(summary.config)
    (institution,) = [i["code"] for i in read_manifest(workdir)["institutions"] if i["images"] == "pacs"]
    with (workdir / "truth" / "files.csv").open(encoding="utf-8") as fh:
        files = [r for r in csv.DictReader(fh) if r["institution"] == institution]
    assert files and all(r["path"].startswith("pacs/") for r in files)  # nothing in the watched folder
    readable: dict[str, set[str]] = defaultdict(set)
    for r in files:
        if r["kind"] == "instance" and r["corrupt"] == "false":
            readable[r["study_instance_uid"]].add(r["sop_instance_uid"])

    state = lake.read_arrow(settings, catalog.uri(settings, "bronze", "pacs_pull_state")).to_pylist()
    assert {r["study_instance_uid"] for r in state} == set(readable)
    assert all(r["state"] == "complete" for r in state)
    assert {r["study_instance_uid"]: r["instances_received"] for r in state} == {
        uid: len(sops) for uid, sops in readable.items()
    }
    instances = lake.read_arrow(
        settings, catalog.uri(settings, "bronze", "dicom_instances"), ["study_instance_uid", "sop_instance_uid"]
    )
    pulled = Counter(
        sop
        for study, sop in zip(*(instances.column(c).to_pylist() for c in instances.column_names), strict=True)
        if study in readable
    )
    assert set(pulled) == set().union(*readable.values()) and max(pulled.values()) == 1

    exams = lake.read_arrow(
        settings, catalog.uri(settings, "silver", "exams"), ["institution", "accession_number", "has_images"]
    ).to_pylist()
    with (workdir / "truth" / "exams.csv").open(encoding="utf-8") as fh:
        imaged = {r["accession_number"] for r in csv.DictReader(fh) if r["has_images"] == "true"}
    mine = {r["accession_number"]: r["has_images"] for r in exams if r["institution"] == institution}
    assert mine and {a for a, has in mine.items() if has} == imaged & set(mine)
