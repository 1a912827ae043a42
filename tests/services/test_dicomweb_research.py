"""A research space answers what the research export writes: the truth is the export's own output files, read
with pydicom, for the cohort the space is bound to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from service_harness import running

from radlake import catalog, lake
from radlake.config import Settings
from services import create_app, issue_token
from transforms.cohorts import load_cohort
from transforms.export import ExportRun

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COHORT = "svc-research"
_BINARY = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}


def _members(settings: Settings, studies: list[str]) -> None:
    """The cohort's build as `radlake cohort build` would leave it (two studies, one patient key each)."""
    spec = catalog.table("silver", "cohort_members")
    rows = [
        {"cohort": COHORT, "study_instance_uid": s, "institution": "h01", "accession_number": None,
         "patient_key": f"empi-{n}", "exam_date": None, "rule_hash": "t", "build": 1, "built_at": datetime.now(UTC)}
        for n, s in enumerate(studies)
    ]  # fmt: skip
    lake.upsert(settings, catalog.table_uri(settings, spec), pa.Table.from_pylist(rows, schema=spec.schema), spec.keys)


def _headers(ds: pydicom.Dataset) -> dict:
    """A file's header as DICOM JSON without its file meta and binary values (served as bulk data, not inline)."""
    out = ds.to_json_dict(bulk_data_threshold=1 << 30)
    return {t: e for t, e in out.items() if not t.startswith("0002") and e.get("vr") not in _BINARY}


def test_research_space_serves_what_the_export_writes(dicomweb_lake, tmp_path: Path) -> None:
    from radlake.pseudonym import write_key_file

    cohorts = tmp_path / "cohorts"
    cohorts.mkdir()
    (cohorts / f"{COHORT}.yaml").write_text("description: services test\nspace: research\n", encoding="utf-8")
    settings = Settings(
        lake=str(dicomweb_lake.lake),
        pseudonym_key_file=str(write_key_file(tmp_path / "pseudonym.key")),
        cohorts_dir=str(cohorts),
        spaces={"research": {"identified": False, "cohort": COHORT}},
        serve={"tokens_file": str(tmp_path / "tokens.json"), "audit_flush_seconds": 0.2},
    )
    ct = sorted({f["study"] for f in dicomweb_lake.files if f["modality"] == "CT"})
    risky = sorted({f["study"] for f in dicomweb_lake.files if f["modality"] in ("US", "SC", "OT", "XC")})
    chosen = ct[:1] + risky[:1]
    _members(settings, chosen)
    bag = tmp_path / "bag"
    summary = ExportRun(settings, load_cohort(settings, COHORT), str(bag)).run()
    assert summary.exported > 0
    recorded = lake.read_arrow(settings, catalog.uri(settings, "silver", "export_instances"))
    assert recorded is not None
    outcomes = [r for r in recorded.to_pylist() if r["cohort"] == COHORT]
    exported = {r["sop_instance_uid"]: bag / r["relative_path"] for r in outcomes if r["outcome"] == "exported"}
    quarantined = [r for r in outcomes if r["outcome"] == "quarantined"]
    truth = {f["sop"]: f for f in dicomweb_lake.files}
    assert quarantined and len(chosen) == 2, "the cohort holds a study the export quarantines"

    token = issue_token(settings, "research")
    with running(create_app(settings)) as base:
        client = DICOMwebClient(f"{base}/spaces/research/dicomweb", headers={"Authorization": f"Bearer {token}"})
        studies = client.search_for_studies(fields=["all"])
        files = {sop: pydicom.dcmread(path) for sop, path in exported.items()}
        assert {s["0020000D"]["Value"][0] for s in studies} >= {str(f.StudyInstanceUID) for f in files.values()}
        assert len(studies) == len(chosen)
        by_study = {s["0020000D"]["Value"][0]: s for s in studies}
        for sop, written in files.items():
            study, series, new_sop = (
                str(written.StudyInstanceUID),
                str(written.SeriesInstanceUID),
                str(written.SOPInstanceUID),
            )
            assert study not in dicomweb_lake.studies and truth[sop]["study"] != study
            # QIDO: the study's keys as the export wrote them.
            item = by_study[study]
            assert item["00100020"]["Value"] == [written.PatientID]
            assert item["00100010"]["Value"][0]["Alphabetic"] == str(written.PatientName)
            assert item["00080020"]["Value"] == [written.StudyDate]
            assert "Value" not in item.get("00080050", {})  # the export empties the accession number
            found = client.search_for_studies(
                search_filters={"PatientID": written.PatientID, "StudyDate": written.StudyDate}
            )
            assert study in {s["0020000D"]["Value"][0] for s in found}
            instances = client.search_for_instances(study_instance_uid=study, series_instance_uid=series)
            assert new_sop in {i["00080018"]["Value"][0] for i in instances}
            # WADO-RS metadata: every attribute of the written file, valued as written.
            served = next(
                m for m in client.retrieve_series_metadata(study, series) if m["00080018"]["Value"] == [new_sop]
            )
            assert {t: e for t, e in served.items() if e.get("vr") not in _BINARY} == _headers(written)
            # Retrieve: the export's file, byte for byte.
            r = httpx.get(
                f"{base}/spaces/research/dicomweb/studies/{study}/series/{series}/instances/{new_sop}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200
            assert exported[sop].read_bytes() in r.content
        # What the export quarantines (burned-in text) the space withholds, with the reason; the rest it serves.
        statuses = []
        for study in by_study:
            for inst in client.search_for_instances(study_instance_uid=study):
                # dicomweb-client sends Host without the port, so the Retrieve URL names none: take its path.
                url = base + inst["00081190"]["Value"][0].partition("127.0.0.1")[2]
                statuses.append(httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code)
        assert statuses.count(403) == len(quarantined) and statuses.count(200) == len(exported)
        for key in ("StudyDescription", "AccessionNumber", "PatientName"):
            refused = httpx.get(
                f"{base}/spaces/research/dicomweb/studies", params={key: "*"},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert refused.status_code == 400 and "de-identified" in refused.json()["reason"], key
