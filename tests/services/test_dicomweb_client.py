"""DICOMweb over a socket with a client no one here wrote (dicomweb-client), checked against the files
themselves (pydicom) and DCMTK's dcm2json as the truth of a header's JSON."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from service_harness import running

from radlake.config import Settings
from services import create_app, issue_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT", "UC", "UR"}


def _client(base: str, space: str, token: str) -> DICOMwebClient:
    return DICOMwebClient(f"{base}/spaces/{space}/dicomweb", headers={"Authorization": f"Bearer {token}"})


def _uids(items: list[dict], tag: str) -> list[str]:
    return [i[tag]["Value"][0] for i in items]


def _all_pages(search, page: int, **kwargs) -> list[dict]:
    out: list[dict] = []
    for offset in range(0, 10_000, page):
        got = search(limit=page, offset=offset, **kwargs)
        out += got
        if len(got) < page:
            return out
    raise AssertionError("paging never ended")


def _dcm2json(path: str) -> dict:
    done = subprocess.run(["dcm2json", "-fc", path], capture_output=True, check=True, timeout=60)
    return json.loads(done.stdout)


def _comparable(dataset: dict) -> dict:
    """Top-level text and number attributes with their values (binary and sequences are compared elsewhere)."""
    out = {}
    for tag, element in dataset.items():
        if tag.startswith("0002") or element.get("vr") not in _TEXT_VRS | {"US", "UL", "SS", "SL", "FL", "FD"}:
            continue
        values = element.get("Value", [])
        # DS/IS are JSON numbers either way; 5 and 5.0 are one number.
        out[tag] = [
            json.dumps(v, sort_keys=True) if isinstance(v, dict) else repr(float(v)) if _number(v) else str(v)
            for v in values
        ]
    return out


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_search_page_include_metadata_retrieve(dicomweb_lake, dicomweb_settings: Settings) -> None:
    truth = dicomweb_lake.files
    token = issue_token(dicomweb_settings, "group")
    with running(create_app(dicomweb_settings)) as base:
        client = _client(base, "group", token)
        # Studies: every study of the files, paged in fives with a stable order (no repeats, no gaps).
        studies = _all_pages(client.search_for_studies, 5)
        assert sorted(_uids(studies, "0020000D")) == sorted(dicomweb_lake.studies)
        per_study = Counter(f["study"] for f in truth)
        for item in studies:
            uid = item["0020000D"]["Value"][0]
            assert item["00201208"]["Value"] == [per_study[uid]]
            mods = sorted({f["modality"] for f in truth if f["study"] == uid})
            assert item["00080061"]["Value"] == mods
        # Series of a study, instances of a series, at all three levels.
        study = max(per_study, key=lambda s: (per_study[s], s))
        series = client.search_for_series(study_instance_uid=study)
        assert sorted(_uids(series, "0020000E")) == sorted({f["series"] for f in truth if f["study"] == study})
        one_series = sorted(_uids(series, "0020000E"))[0]
        instances = client.search_for_instances(study_instance_uid=study, series_instance_uid=one_series)
        expected = sorted(f["sop"] for f in truth if f["series"] == one_series)
        assert sorted(_uids(instances, "00080018")) == expected
        everything = _all_pages(client.search_for_series, 7)
        assert len(everything) == len({f["series"] for f in truth})
        # includefield by keyword and by tag; includefield=all brings the study's landed attributes.
        f0 = next(f for f in truth if f["institution"] and f["accession"])
        got = client.search_for_studies(search_filters={"StudyInstanceUID": f0["study"]}, fields=["00080080"])
        assert got[0]["00080080"]["Value"] == [f0["institution"]]
        got = client.search_for_studies(search_filters={"AccessionNumber": f0["accession"]}, fields=["all"])
        assert _uids(got, "0020000D") == [f0["study"]] and "00100030" in got[0]
        # Metadata of a series: one landed header per instance, equal to dcm2json's reading of its file.
        metadata = client.retrieve_series_metadata(study, one_series)
        assert len(metadata) == len(expected)
        by_sop = {f["sop"]: f for f in truth}
        for header in metadata:
            path = by_sop[header["00080018"]["Value"][0]]["path"]
            assert _comparable(header) == _comparable(_dcm2json(path))
        # Retrieve: the stored file, byte for byte.
        sop = expected[0]
        dataset = client.retrieve_instance(study, one_series, sop)
        stored = Path(by_sop[sop]["path"]).read_bytes()
        assert dataset.SOPInstanceUID == sop
        raw = httpx.get(
            f"{base}/spaces/group/dicomweb/studies/{study}/series/{one_series}/instances/{sop}",
            headers={"Authorization": f"Bearer {token}", "Accept": 'multipart/related; type="application/dicom"'},
        )
        assert hashlib.sha256(stored).hexdigest() in {hashlib.sha256(p).hexdigest() for p in _parts(raw)}


def _parts(response: httpx.Response) -> list[bytes]:
    boundary = response.headers["content-type"].split("boundary=")[1].strip('"')
    chunks = response.content.split(f"--{boundary}".encode())
    return [c.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for c in chunks if b"\r\n\r\n" in c]


def test_names_fuzzy_and_literal(dicomweb_lake, dicomweb_settings: Settings) -> None:
    named = dicomweb_lake.named_studies
    token = issue_token(dicomweb_settings, "group")
    with running(create_app(dicomweb_settings)) as base:
        client = _client(base, "group", token)

        def found(**filters: str) -> set[str]:
            fuzzy = filters.pop("fuzzy", None) == "true"
            return set(_uids(client.search_for_studies(search_filters=filters, fuzzymatching=fuzzy), "0020000D"))

        # Literal: case-insensitive on the whole value; wildcards.
        assert found(PatientName="zhang^wei") == {named["zhang_en"]}
        assert found(PatientName="ZHANG^WEI*") == {named["zhang_en"], named["zhang_other"]}
        assert found(PatientName="张伟") == {named["zhang_cn"]}
        # Fuzzy: name parts in any order, spacing and case; Chinese by its pinyin, both ways.
        assert found(PatientName="wei  ZHANG", fuzzy="true") == {named["zhang_en"], named["zhang_cn"]}
        assert found(PatientName="张伟", fuzzy="true") == {named["zhang_en"], named["zhang_cn"]}
        assert found(PatientName="zhangwei", fuzzy="true") == {named["zhang_en"], named["zhang_cn"]}
        r = httpx.get(
            f"{base}/spaces/group/dicomweb/studies",
            params={"PatientName": "wei zhang", "fuzzymatching": "true"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200 and "warning" not in r.headers  # supported, so no Warning: 299


def test_research_space_sees_only_pseudonyms(dicomweb_lake, dicomweb_settings: Settings) -> None:
    truth = dicomweb_lake.files
    token = issue_token(dicomweb_settings, "research")
    with running(create_app(dicomweb_settings)) as base:
        client = _client(base, "research", token)
        studies = client.search_for_studies(fields=["all"], limit=50)
        assert len(studies) == len(dicomweb_lake.studies)
        pseudo = _uids(studies, "0020000D")
        assert not set(pseudo) & dicomweb_lake.studies
        first = pseudo[0]
        series = client.search_for_series(study_instance_uid=first)
        metadata = client.retrieve_study_metadata(first)
        sop = metadata[0]["00080018"]["Value"][0]
        se = metadata[0]["0020000E"]["Value"][0]
        dataset = client.retrieve_instance(first, se, sop)
        assert dataset.SOPInstanceUID == sop and dataset.PatientIdentityRemoved == "YES"
        # A real UID is no way in.
        real = next(iter(dicomweb_lake.studies))
        assert client.search_for_studies(search_filters={"StudyInstanceUID": real}) == []
        text = json.dumps([studies, series, metadata], ensure_ascii=False) + str(dataset)
        leaked = [
            v
            for f in truth
            for v in (f["study"], f["series"], f["sop"], f["patient_id"], f["accession"], f["patient_name"])
            if v and len(v) > 3 and v in text
        ]
        assert not leaked, f"{len(leaked)} identifying values leaked"
        names = httpx.get(
            f"{base}/spaces/research/dicomweb/studies",
            params={"PatientName": "zhang*"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert names.status_code == 400 and "de-identified" in names.json()["reason"]


def test_space_filter_and_tampered_file(dicomweb_lake, dicomweb_settings: Settings, tmp_path: Path) -> None:
    truth = dicomweb_lake.files
    token = issue_token(dicomweb_settings, "ct")
    with running(create_app(dicomweb_settings)) as base:
        client = _client(base, "ct", token)
        studies = client.search_for_studies(limit=50)
        ct_studies = {f["study"] for f in truth if f["modality"] == "CT"}
        assert set(_uids(studies, "0020000D")) == ct_studies
        series = _all_pages(client.search_for_series, 10)
        assert {f["series"] for f in truth if f["modality"] == "CT"} == set(_uids(series, "0020000E"))
        other = next(f for f in truth if f["modality"] != "CT")
        hidden = httpx.get(
            f"{base}/spaces/ct/dicomweb/studies/{other['study']}/series/{other['series']}/metadata",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert hidden.status_code == 404
        # A stored file changed after landing: an error naming why, never the changed bytes.
        victim = next(f for f in truth if f["modality"] == "CT")
        path = Path(victim["path"])
        original = path.read_bytes()
        try:
            path.write_bytes(original[:-4] + b"\x01\x02\x03\x04")
            url = (
                f"{base}/spaces/ct/dicomweb/studies/{victim['study']}/series/{victim['series']}"
                f"/instances/{victim['sop']}"
            )
            r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 500 and "checksum" in r.json()["reason"]
        finally:
            path.write_bytes(original)
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert pydicom.dcmread(path).SOPInstanceUID == victim["sop"]
