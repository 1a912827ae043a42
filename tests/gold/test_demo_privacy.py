"""Personal data in the demo's warehouse files, and the pseudonym key in everything the run wrote.

The identifiers come from the simulator's own truth files, its RIS databases and its HL7 feed (computed
independently of radlake's marts); the key is the one tests/conftest.py put in the environment for the whole session.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import os
from pathlib import Path

import duckdb
import hl7
import pytest

from radlake.config import Settings, load_settings
from radlake.postgres import connect
from radlake.pseudonym import KEY_ENV
from radlake.warehouse import DBT_PROJECT_DIR
from tests.gold.phi_scan import find_personal_data

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _truth(workdir: Path, name: str) -> list[dict[str, str]]:
    with (workdir / "truth" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def simulator_identifiers(workdir: Path, settings: Settings) -> dict[str, set[str]]:
    """Accession numbers, MRNs, record ids, UIDs (truth files); names, ID numbers, phones, addresses (RIS)."""
    found: dict[str, set[str]] = {k: set() for k in ("accession", "mrn", "uid", "ris")}
    for row in _truth(workdir, "exams.csv"):
        found["accession"].add(row["accession_number"])
        found["mrn"].add(row["mrn"])
    for row in _truth(workdir, "persons.csv"):
        found["mrn"] |= {row["mrn"], row["record_id"]}
    for row in _truth(workdir, "files.csv"):
        found["uid"] |= {row[c] for c in ("study_instance_uid", "series_instance_uid", "sop_instance_uid")}
        found["accession"].add(row["accession_number"])
    for name, source in settings.sources.items():
        with connect(source, name) as con:
            for row in con.execute("select name, id_number, phone, address, mrn from ris.patients"):
                found["ris"] |= {str(v).strip() for v in row if v is not None}
    # The HL7-only hospital's registrations: read from the feed the simulator wrote, with python-hl7's parser.
    for feed in sorted((workdir / "hl7").glob("*.mllp")):
        for frame in feed.read_bytes().split(b"\x1c\r"):
            text = frame.lstrip(b"\x0b").decode("gb18030")
            if "|ADT^A04|" in text:
                message = hl7.parse(text)
                pid = message.segment("PID")
                ids = {rep.split("^")[0] for rep in str(pid(3)).split("~")}  # the MRN and the resident ID
                found["ris"] |= {message.unescape(str(pid(n))) for n in (5, 11, 13)} | ids
    return {k: {v for v in values if v and v.strip()} for k, values in found.items()}


def test_analysts_file_holds_none_of_the_simulators_identifiers(demo_run) -> None:
    workdir, summary = demo_run
    settings = load_settings(summary.config)
    ids = simulator_identifiers(workdir, settings)
    assert all(len(v) > 20 for v in ids.values()), {k: len(v) for k, v in ids.items()}
    everything = set().union(*ids.values())
    assert find_personal_data(settings.warehouse_path, everything) == []
    # The scan can find them: the stewards' work lists do carry accession numbers and study UIDs.
    leaks = find_personal_data(settings.stewards_warehouse_path, ids["accession"] | ids["uid"])
    assert any(f.startswith("link_quality_exams_without_images.accession_number") for f in leaks), leaks
    assert any(f.startswith("link_quality_orphan_studies.study_instance_uid") for f in leaks), leaks


def _key_forms(key_text: str) -> list[bytes]:
    raw = bytes.fromhex(key_text)
    return [
        key_text.encode(),
        key_text.upper().encode(),
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
    ]


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_the_key_is_in_no_file_the_run_wrote(demo_run) -> None:
    workdir, summary = demo_run
    settings = load_settings(summary.config)
    key = os.environ[KEY_ENV]
    # The run used this key: an exam_key of the analysts' file, recomputed with it, names a steward's exam.
    with duckdb.connect(settings.stewards_warehouse_path, read_only=True) as con:
        pairs = con.execute("select institution, accession_number, exam_key from report_timeliness_breaches").fetchall()
    assert pairs
    for institution, accession, exam_key in pairs:
        expected = hmac.new(bytes.fromhex(key), f"{institution}:{accession}".encode(), hashlib.sha256).hexdigest()
        assert exam_key == expected[:16]
    # Everything written anywhere: the workdir (lake, both warehouse files, quality output, alerts, Dagster home,
    # radlake.yaml) and the dbt project's target and logs, where Dagster's dbt runs write.
    files = _files_under(workdir, DBT_PROJECT_DIR / "target", DBT_PROJECT_DIR / "logs")
    files = [f for f in files if f.name != "pseudonym.key"]  # the demo's own key file (unused: the env key wins)
    assert len(files) > 100
    assert any(".dagster" in f.parts for f in files) and any(f.suffix == ".json" for f in files)
    forms = _key_forms(key)
    holding = [str(f) for f in files if any(form in f.read_bytes() for form in forms)]
    assert holding == []


def test_the_demo_writes_its_own_key_file(demo_run) -> None:
    workdir, summary = demo_run
    key_file = workdir / "pseudonym.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    settings = load_settings(summary.config)
    assert settings.pseudonym_key_file == key_file
    text = key_file.read_text(encoding="ascii").strip()
    assert len(bytes.fromhex(text)) == 32
    assert text not in summary.config.read_text(encoding="utf-8")  # the config names the file, not the key


def test_dagster_shows_no_identifiers(demo_run) -> None:
    """Previews and metadata in the Dagster home (event log, run storage) name no exam, patient or study."""
    workdir, summary = demo_run
    ids = simulator_identifiers(workdir, load_settings(summary.config))
    studies = {r["study_instance_uid"] for r in _truth(workdir, "files.csv") if r["study_instance_uid"]}
    wanted = ids["accession"] | ids["mrn"] | ids["ris"] | studies
    files = _files_under(workdir / ".dagster")
    assert any(f.suffix == ".db" for f in files)
    texts = {f: f.read_bytes().decode("latin-1") for f in files}
    assert "silver/exams" in "".join(texts.values()) or any("exams" in t for t in texts.values())
    holding = {str(f): sorted(v for v in wanted if len(v) >= 6 and v in text)[:3] for f, text in texts.items()}
    assert {f: v for f, v in holding.items() if v} == {}
