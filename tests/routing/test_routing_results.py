"""Results back: an AI's secondary capture and a JSON finding, linked to the source study by its UID."""

from __future__ import annotations

import json
from pathlib import Path

from routing_harness import CT, SC, sop_uid_of, write_instances

from ingestion.dicom.api import ingest_dicom
from ingestion.routing.results import link_results, turnaround
from radlake import catalog, lake
from radlake.config import Settings


def test_results_are_linked_to_their_study_once(tmp_path: Path) -> None:
    import pydicom

    settings = Settings(lake=str(tmp_path / "lake"))
    ct = write_instances(tmp_path / "in" / "ct", 3, CT, seed=8)
    study = str(pydicom.dcmread(ct[0]).StudyInstanceUID)
    ingest_dicom(settings, [tmp_path / "in" / "ct"])
    (sc,) = write_instances(tmp_path / "in" / "ai", 1, SC, study=study, seed=9)
    ds = pydicom.dcmread(sc)
    ds.Manufacturer, ds.ManufacturerModelName = "AcmeAI", "LungNodule 2"
    ds.save_as(sc)
    write_instances(tmp_path / "in" / "orphan", 1, SC, seed=10)  # a capture of no landed study: not a result
    ingest_dicom(settings, [tmp_path / "in"])
    results = tmp_path / "results"
    results.mkdir()
    (results / "finding.json").write_text(json.dumps({"study_instance_uid": study, "ai": "TriageBot", "score": 0.9}))
    (results / "broken.json").write_text("{not json")

    report = link_results(settings, results)
    assert report.linked == 2
    assert [Path(p).name for p, _ in report.skipped] == ["broken.json"]
    table = lake.read_arrow(settings, catalog.uri(settings, "bronze", "routing_results"))
    assert table is not None
    rows = {r["kind"]: r for r in table.to_pylist()}
    assert set(rows) == {"sc", "json"}
    assert rows["sc"]["result_id"] == sop_uid_of(sc) and rows["sc"]["ai_name"] == "AcmeAI LungNodule 2"
    assert {r["study_instance_uid"] for r in rows.values()} == {study}
    times = turnaround(settings)
    assert times is not None and min(times["turnaround_s"].to_pylist()) >= 0
    assert link_results(settings, results).linked == 0  # a re-run changes nothing
