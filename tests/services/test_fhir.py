"""FHIR R4 over the demo lake, driven by fhirclient over a socket, checked by the simulator's truth and by
@medplum/core's R4 validator (software no one here wrote)."""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pydicom
import pytest
from fhir_checks import captured_validation, demo_service_settings, fhir_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.imagingstudy import ImagingStudy
from fhirclient.models.patient import Patient
from service_harness import running

from radlake import catalog, lake
from radlake.lake import Lake
from services import create_app, issue_token
from services.fhir.systems import Systems
from services.lake_index import resolve_merges

pytestmark = pytest.mark.slow


def _truth_studies(workdir: Path) -> dict[str, set[str]]:
    """person_id → the Study Instance UIDs the simulator wrote for them (at least one readable file).

    A study of an order is its order's person (truth/exams.csv); a study without an order is the person
    registered under its DICOM Patient ID at that institution (truth/persons.csv), read from the file here.
    """
    truth = workdir / "truth"
    person_of_exam = {
        (r["institution"], r["accession_number"]): r["person_id"] for r in csv.DictReader((truth / "exams.csv").open())
    }
    person_of_mrn = {
        (r["institution"], r["mrn"]): r["person_id"] for r in csv.DictReader((truth / "persons.csv").open())
    }
    studies: dict[str, set[str]] = defaultdict(set)
    for row in csv.DictReader((truth / "files.csv").open()):
        if row["corrupt"] == "true" or row["kind"] != "instance":
            continue
        person = person_of_exam.get((row["institution"], row["accession_number"]))
        if person is None:  # an orphan study: ask the file who it is
            patient_id = pydicom.dcmread(workdir / row["path"], stop_before_pixels=True).PatientID
            person = person_of_mrn[(row["institution"], str(patient_id))]
        studies[person].add(row["study_instance_uid"])
    return studies


def _page_all(server: Any, path: str) -> list[dict[str, Any]]:
    """Every entry of a search, following ``next`` links with fhirclient (its Bundle model parses each page)."""
    from fhirclient._utils import iter_pages

    first = Bundle(server.request_json(path))
    return [e.resource.as_json() for b in iter_pages(first, server) for e in b.entry or []]


@pytest.fixture(scope="module")
def fhir_report() -> dict[str, Any]:
    """Figures the module's tests leave for the closing note (printed at the end)."""
    report: dict[str, Any] = {}
    yield report
    print("\nFHIR figures:", report)


@pytest.fixture(scope="module")
def served(demo_run, tmp_path_factory, fhir_report):
    workdir, _summary = demo_run
    tmp = tmp_path_factory.mktemp("fhir")
    settings = demo_service_settings(workdir, tmp)
    group = issue_token(settings, "group")
    research = issue_token(settings, "research")
    with captured_validation(fhir_report) as bodies, running(create_app(settings)) as base:
        server = fhir_client(f"{base}/spaces/group/fhir/", group, bodies)
        yield {"base": base, "server": server, "settings": settings, "workdir": workdir, "research": research,
               "group": group, "bodies": bodies}  # fmt: skip
    assert fhir_report["issues"] == [], fhir_report["issues"][:10]
    assert {"Patient", "ImagingStudy", "DiagnosticReport", "Bundle"} <= set(fhir_report["validated"])


def test_everything_is_each_persons_studies_and_nobody_elses(served, fhir_report) -> None:
    server, workdir = served["server"], served["workdir"]
    systems = Systems(served["settings"].serve.fhir_base_uri)
    truth = _truth_studies(workdir)
    records: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in csv.DictReader((workdir / "truth" / "persons.csv").open()):
        records[r["person_id"]].append((r["institution"], r["mrn"]))
    mismatches, seen_by = [], {}
    for person, regs in sorted(records.items()):
        # The person as FHIR knows them: the Patient of each registration's MRN, found with its system.
        empi_ids = set()
        for institution, mrn in regs:
            found = Patient.where(struct={"identifier": f"{systems.mrn(institution)}|{mrn}"}).perform_resources_iter(
                server
            )
            empi_ids |= {p.id for p in found}
        if len(empi_ids) != 1:
            mismatches.append((person, "patients", len(empi_ids)))
            continue
        (empi_id,) = empi_ids
        entries = _page_all(server, f"Patient/{empi_id}/$everything?_count=7")
        studies = [e for e in entries if e["resourceType"] == "ImagingStudy"]
        uids = {
            i["value"].removeprefix("urn:oid:")
            for s in studies
            for i in s["identifier"]
            if i["system"] == "urn:dicom:uid"
        }
        assert len(uids) == len(studies)
        if uids != truth.get(person, set()):
            mismatches.append((person, "studies", len(uids), len(truth.get(person, set()))))
        for uid in uids:
            assert seen_by.setdefault(uid, person) == person, "a study was returned for two persons"
        started = [s["started"] for s in studies if "started" in s]
        assert started == sorted(started, reverse=True), "newest first"
        assert entries[0]["resourceType"] == "Patient" and entries[0]["id"] == empi_id
    fhir_report["truth"] = {"persons_checked": len(records), "mismatches": len(mismatches),
                            "studies_checked": sum(len(v) for v in truth.values())}  # fmt: skip
    assert mismatches == []
    assert set(seen_by) == set().union(*truth.values())  # every simulated study, each under its person


def _silver(settings, name: str, columns: list[str]) -> pa.Table:
    table = lake.read_arrow(settings, catalog.uri(settings, "silver", name), columns)
    assert table is not None
    return table


def test_patient_and_study_searches(served) -> None:
    server, settings = served["server"], served["settings"]
    systems = Systems(settings.serve.fhir_base_uri)
    golden = _silver(settings, "patient_golden", ["empi_id", "name", "sex", "birth_date", "id_number", "phones"])
    people = [p for p in golden.to_pylist() if p["id_number"] and p["phones"] and p["name"]]
    person = people[0]
    # Resident ID with its system; name prefix (Chinese surname); phone; birthdate; gender.
    by_id = _page_all(server, f"Patient?identifier={systems.resident_id}|{person['id_number']}")
    assert [p["id"] for p in by_id] == [person["empi_id"]]
    surname = person["name"][0]
    by_name = {p["id"] for p in _page_all(server, f"Patient?name={surname}&_count=3")}
    named = [p for p in golden.to_pylist() if (p["name"] or "").startswith(surname)]
    assert by_name == {p["empi_id"] for p in named}
    # A name alone reads count and page from the sorted name table; with another key it takes the general path.
    gender = {"M": "male", "F": "female"}[person["sex"]]
    assert {p["id"] for p in _page_all(server, f"Patient?name={surname}&gender={gender}&_count=2")} == {
        p["empi_id"] for p in named if p["sex"] == person["sex"]
    }
    past = server.request_json(f"Patient?name={surname}&_offset=100000")
    assert past["total"] == len(named) and "entry" not in past
    exact = {p["id"] for p in _page_all(server, f"Patient?name:exact={person['name']}")}
    assert exact == {p["empi_id"] for p in named if p["name"] == person["name"]}
    both_keys = _page_all(server, f"Patient?name={surname}&identifier={systems.resident_id}|{person['id_number']}")
    assert [p["id"] for p in both_keys] == [person["empi_id"]]
    by_phone = {p["id"] for p in _page_all(server, f"Patient?phone={person['phones'][0]}")}
    assert person["empi_id"] in by_phone
    day = person["birth_date"].isoformat()
    both = {p["id"] for p in _page_all(server, f"Patient?birthdate={day}&gender={gender}")}
    assert both == {
        p["empi_id"]
        for p in golden.to_pylist()
        if p["birth_date"] == person["birth_date"] and p["sex"] == person["sex"]
    }
    assert {p["id"] for p in _page_all(server, f"Patient?birthdate=ge{day[:4]}&birthdate=lt{int(day[:4]) + 1}")} == {
        p["empi_id"] for p in golden.to_pylist() if p["birth_date"] and p["birth_date"].year == int(day[:4])
    }

    exams = _silver(
        settings,
        "exams",
        ["institution", "accession_number", "mrn", "empi_id", "study_instance_uid", "exam_started_at", "modality"],
    )
    imaged = exams.filter(pc.is_valid(exams["study_instance_uid"])).to_pylist()
    one = (
        next(e for e in imaged if e["empi_id"] == person["empi_id"])
        if any(e["empi_id"] == person["empi_id"] for e in imaged)
        else imaged[0]
    )
    mrn_token = f"{systems.mrn(one['institution'])}|{one['mrn']}"
    chained = {
        s.id for s in ImagingStudy.where(struct={"patient.identifier": mrn_token}).perform_resources_iter(server)
    }
    subject = {
        s.id
        for s in ImagingStudy.where(struct={"subject:Patient.identifier": mrn_token}).perform_resources_iter(server)
    }
    direct = {s["id"] for s in _page_all(server, f"ImagingStudy?patient=Patient/{one['empi_id']}")}
    assert chained == subject == direct and one["study_instance_uid"] in direct
    first = server.request_json(f"ImagingStudy?patient=Patient/{one['empi_id']}&_count=1")
    assert first["total"] == len(direct) and len(first["entry"]) == 1
    # The study UID as urn:dicom:uid / urn:oid:..., and the accession number with its institution's system.
    by_uid = _page_all(server, f"ImagingStudy?identifier=urn:dicom:uid|urn:oid:{one['study_instance_uid']}")
    by_acc = _page_all(
        server, f"ImagingStudy?identifier={systems.accession(one['institution'])}|{one['accession_number']}"
    )
    assert [s["id"] for s in by_uid] == [s["id"] for s in by_acc] == [one["study_instance_uid"]]
    study = by_uid[0]
    assert study["endpoint"] == [{"reference": "#dicomweb"}]
    assert study["contained"][0]["address"].endswith("/spaces/group/dicomweb/")
    assert all(
        len(c["code"]) == 14 and c["system"] == systems.exam_standard
        for p in study.get("procedureCode", [])
        for c in p.get("coding", [])
    )
    # started ranges against silver/exams' start times (the studies of orders that started)
    starts = sorted(e["exam_started_at"] for e in imaged if e["exam_started_at"])
    cut = starts[len(starts) // 2]
    local = cut.astimezone(datetime.now().astimezone().tzinfo).isoformat(timespec="seconds")
    later = {
        s["id"]
        for s in _page_all(
            server, f"ImagingStudy?started=ge{cut.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}&_count=50"
        )
    }
    expected = {e["study_instance_uid"] for e in imaged if e["exam_started_at"] and e["exam_started_at"] >= cut}
    assert expected <= later and local
    # modality, paging with next links (each page _count), and _include of the subjects
    ct = [s for s in _page_all(server, "ImagingStudy?modality=CT&_count=4") if s["resourceType"] == "ImagingStudy"]
    all_ct = server.request_json("ImagingStudy?modality=CT&_count=0")["total"]
    assert len(ct) == all_ct == len({s["id"] for s in ct}) > 4
    assert all(any(m["code"] == "CT" for m in s["modality"]) for s in ct)
    page = server.request_json("ImagingStudy?modality=CT&_count=4&_include=ImagingStudy:subject")
    kinds = {e["search"]["mode"]: e["resource"]["resourceType"] for e in page["entry"]}
    assert kinds == {"match": "ImagingStudy", "include": "Patient"}
    assert any(link["relation"] == "next" for link in page["link"])


def test_reports_errors_and_spaces(served) -> None:
    server, settings, base = served["server"], served["settings"], served["base"]
    exams = _silver(settings, "exams", ["report_status", "empi_id"]).to_pylist()
    reported = sum(1 for e in exams if e["report_status"] in ("written", "signed", "amended"))
    reports = _page_all(server, "DiagnosticReport?_count=40")
    assert len(reports) == reported > 0
    assert {r["status"] for r in reports} <= {"preliminary", "final", "amended"}
    assert sum(1 for r in reports if r.get("conclusion")) > reported // 2
    assert all(r["imagingStudy"][0]["reference"].startswith("ImagingStudy/") for r in reports if "imagingStudy" in r)
    one = server.request_json(f"DiagnosticReport/{reports[0]['id']}")
    assert one == reports[0]
    # Errors past the guard are OperationOutcomes; an unknown parameter never widens a search.
    headers = {"Authorization": f"Bearer {served['group']}"}
    for path, status in [("Patient?nmae=x", 400), ("Patient/E9999999999", 404), ("ImagingStudy?started=yesterday", 400),
                         ("Observation", 404), ("ImagingStudy?_include=Patient:link", 400)]:  # fmt: skip
        r = httpx.get(f"{base}/spaces/group/fhir/{path}", headers=headers)
        assert r.status_code == status and r.json()["resourceType"] == "OperationOutcome", (path, r.text)
        served["bodies"].append(r.json())
    # A pseudonymized space gets no FHIR at all (no Patient); the group token does not open it.
    r = httpx.get(f"{base}/spaces/research/fhir/Patient", headers={"Authorization": f"Bearer {served['research']}"})
    assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(f"{base}/spaces/research/fhir/Patient", headers=headers).status_code == 403
    assert httpx.get(f"{base}/spaces/group/fhir/Patient").status_code == 401
    served["bodies"].append(server.request_json("metadata"))


def test_merged_ids_answer_with_their_survivor() -> None:
    events = pa.table(
        {
            "event": ["create", "merge", "merge"],
            "empi_id": ["E1", "E2", "E3"],
            "other_empi_ids": [[], ["E1"], ["E2"]],
            "occurred_at": [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=d) for d in range(3)],
        }
    )
    pairs = dict(zip(*resolve_merges(events, {"E3"}).to_pydict().values(), strict=True))
    assert pairs == {"E1": "E3", "E2": "E3"}  # a chain ends at the id that is still a person
    assert resolve_merges(events, {"E1", "E3"}).to_pydict()["old_id"] == ["E2"]  # a split brought E1 back


def test_new_order_and_study_are_served_within_a_refresh(demo_run, tmp_path, fhir_report) -> None:
    """Freshness of the service's part: a commit to silver (as the streaming jobs make) → visible over FHIR."""
    workdir, _ = demo_run
    settings = demo_service_settings(workdir, tmp_path, copy_lake=True)
    token = issue_token(settings, "group")
    headers = {"Authorization": f"Bearer {token}"}
    studies_uri = catalog.uri(settings, "silver", "dicom_studies")
    studies = lake.read_arrow(settings, studies_uri)
    assert studies is not None
    new = studies.slice(0, 1).to_pylist()[0] | {
        "study_instance_uid": "1.2.826.0.1.3680043.8.498.999",
        "accession_number": "h01W999",
    }
    with running(create_app(settings)) as base:
        url = f"{base}/spaces/group/fhir/ImagingStudy?identifier=urn:dicom:uid|urn:oid:{new['study_instance_uid']}"
        assert httpx.get(url, headers=headers).json()["total"] == 0
        Lake(settings).table("silver", "dicom_studies").upsert(pa.Table.from_pylist([new], schema=studies.schema))
        committed = time.monotonic()
        while httpx.get(url, headers=headers).json()["total"] == 0:
            assert time.monotonic() - committed < 30, "not visible within 30 s"
            time.sleep(0.05)
        fhir_report["freshness_seconds"] = round(time.monotonic() - committed, 2)
    assert fhir_report["freshness_seconds"] <= settings.serve.refresh_seconds + 10


def test_a_space_bound_to_a_cohort_sees_its_studies_only(demo_run, tmp_path) -> None:
    """An identified space bound to the demo's chest-CT cohort: its ImagingStudies are the cohort's build."""
    from radlake.config import SpaceConfig

    workdir, _summary = demo_run
    settings = demo_service_settings(workdir, tmp_path)
    spaces = {**settings.spaces, "chest": SpaceConfig(identified=True, cohort="demo-chest-ct")}
    settings = settings.model_copy(update={"spaces": spaces})
    members = _silver(settings, "cohort_members", ["cohort", "study_instance_uid"])
    cohort = {r["study_instance_uid"] for r in members.to_pylist() if r["cohort"] == "demo-chest-ct"}
    assert cohort
    token = issue_token(settings, "chest")
    with running(create_app(settings)) as base:
        server = fhir_client(f"{base}/spaces/chest/fhir/", token, [])
        studies = _page_all(server, "ImagingStudy?_count=50")
    uids = {
        i["value"].removeprefix("urn:oid:") for s in studies for i in s["identifier"] if i["system"] == "urn:dicom:uid"
    }
    assert uids == cohort
