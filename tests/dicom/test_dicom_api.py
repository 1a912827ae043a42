"""ingest_dicom over the corpus of issue 3: every file accounted for, decoded text, incremental, crash-safe."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest
from dicom_corpus import FILES, INSTANCES, Corpus, build_corpus, content, dataset_bytes, make_dataset, rows, versions

from ingestion.dicom import landing
from ingestion.dicom.api import ingest_dicom
from radlake.config import Settings
from radlake.errors import DataError


def on_disk(root: Path) -> list[str]:
    return sorted(str(Path(d) / f) for d, _, names in os.walk(root) for f in names)


def test_every_file_lands_once_with_its_outcome(corpus: Corpus, settings: Settings) -> None:
    report = ingest_dicom(settings, [corpus.root], workers=0)
    files = {r["file_path"]: r for r in rows(settings, FILES)}
    # Every input file appears exactly once.
    assert sorted(files) == on_disk(corpus.root)
    assert len(rows(settings, FILES)) == len(files)
    for path, (outcome, code) in corpus.expect.items():
        row = files[path]
        assert row["outcome"] == outcome, (path, row["reason"])
        if code is None:
            assert row["reason"] is None or outcome == "conflict"
        else:
            assert row["reason"].startswith(f"{code}: "), (path, row["reason"])
        if outcome != "reject" or code not in ("empty_file",):
            assert row["sha256"] == corpus.sha[path]
        assert row["file_size"] == os.path.getsize(path)
        assert row["source"] == "folder"
    expected = {o: sum(1 for v in corpus.expect.values() if v[0] == o) for o in landing.OUTCOMES}
    assert report.outcomes == expected
    assert report.files_seen == len(corpus.expect) and report.files_skipped == 0

    instances = {r["sop_instance_uid"]: r for r in rows(settings, INSTANCES)}
    assert len(instances) == len(rows(settings, INSTANCES))  # one row per SOP instance
    landed = [r for r in files.values() if r["outcome"] == "instance"]
    assert len(instances) == len(landed)
    for r in landed:
        inst = instances[r["sop_instance_uid"]]
        assert (inst["file_path"], inst["file_sha256"]) == (r["file_path"], r["sha256"])
        header = orjson.loads(inst["header_json"])
        assert header["00080018"]["Value"] == [r["sop_instance_uid"]]


def test_text_is_decoded_and_inference_recorded(corpus: Corpus, settings: Settings) -> None:
    ingest_dicom(settings, [corpus.root], workers=0)
    by_path = {r["file_path"]: r for r in rows(settings, INSTANCES)}
    for path, want in corpus.decoded.items():
        inst = by_path[path]
        assert inst["patient_name"] == want["patient_name"], path
        assert inst["institution_name"] == want["institution_name"], path
        assert inst["charset_inferred"] is (want["inferred"] is not None), path
        assert inst["inferred_character_set"] == want["inferred"], path
        name_json = orjson.loads(inst["header_json"])["00100010"]["Value"][0]
        assert "=".join(name_json.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")).rstrip("=") == want[
            "patient_name"
        ].rstrip("=")
    # ISO 2022 IR 58: the declared value is kept as written, its escape sequences never reach the text.
    ir58 = by_path[corpus.names["iso2022_ir58"]]
    assert ir58["specific_character_set"] == "\\ISO 2022 IR 58"
    assert "\x1b" not in ir58["header_json"] and "\x1b" not in ir58["patient_name"]
    # pydicom's own Chinese test files.
    x1 = by_path[corpus.names["pydicom_chrX1.dcm"]]
    assert x1["patient_name"] == "Wang^XiaoDong=王^小東="


def test_typed_columns_bad_date_private_tags(corpus: Corpus, settings: Settings) -> None:
    ingest_dicom(settings, [corpus.root], workers=0)
    by_path = {r["file_path"]: r for r in rows(settings, INSTANCES)}
    bad = by_path[corpus.names["bad_date"]]
    assert bad["study_date"] is None and bad["study_date_raw"] == "2026-13-45"
    plain = by_path[corpus.names["plain_1_1"]]
    assert str(plain["study_date"]) == "2026-11-01" and str(plain["patient_birth_date"]) == "1970-02-15"
    assert (plain["slice_thickness"], plain["kvp"], plain["exposure_mas"]) == (1.25, 120.0, 200.0)
    assert (plain["modality"], plain["series_number"], plain["instance_number"]) == ("CT", 1, 1)
    assert str(plain["acquisition_datetime"]) == "2026-11-01 08:35:10.250000"
    assert plain["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
    private = orjson.loads(by_path[corpus.names["private"]]["header_json"])
    assert private["00290010"]["Value"] == ["ACME MR HEADER"]
    assert private["00291001"]["Value"] == ["vendor value"]
    assert private["00291002"]["BulkDataURI"].endswith("length=2048")
    assert private["00291003"]["Value"][0]["00291011"]["Value"] == [7]
    implicit = by_path[corpus.names["raw_implicit"]]
    assert implicit["transfer_syntax_uid"] == "1.2.840.10008.1.2"


def test_conflict_keeps_both_checksums_and_never_overwrites(corpus: Corpus, settings: Settings) -> None:
    ingest_dicom(settings, [corpus.root], workers=0)
    files = {r["file_path"]: r for r in rows(settings, FILES)}
    original, copy, conflict = (corpus.names[n] for n in ("dup_original", "dup_copy", "conflict"))
    assert files[copy]["landed_sha256"] == corpus.sha[original] == files[copy]["sha256"]
    assert files[conflict]["sha256"] == corpus.sha[conflict] != corpus.sha[original]
    assert files[conflict]["landed_sha256"] == corpus.sha[original]
    uid = files[original]["sop_instance_uid"]
    assert files[conflict]["sop_instance_uid"] == uid
    inst = [r for r in rows(settings, INSTANCES) if r["sop_instance_uid"] == uid]
    assert [(r["file_path"], r["file_sha256"]) for r in inst] == [(original, corpus.sha[original])]
    # A later run that meets yet other bytes for the same UID adds a conflict; the instance stays.
    third = corpus.root / "dups" / "d" / "IM0001"
    third.parent.mkdir()
    third.write_bytes(dataset_bytes(make_dataset(uid, study="4", StudyDescription="third")))
    ingest_dicom(settings, [corpus.root], workers=0)
    assert {r["file_path"]: r["outcome"] for r in rows(settings, FILES)}[str(third)] == "conflict"
    inst = [r for r in rows(settings, INSTANCES) if r["sop_instance_uid"] == uid]
    assert [r["file_sha256"] for r in inst] == [corpus.sha[original]]


def test_rerun_reads_nothing_and_commits_nothing(corpus: Corpus, settings: Settings, monkeypatch) -> None:
    ingest_dicom(settings, [corpus.root], workers=0)
    before = versions(settings)
    opened: list[str] = []
    real_open = open

    def spy_open(file, *args, **kwargs):
        if str(file).startswith(str(corpus.root)):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy_open)
    report = ingest_dicom(settings, [corpus.root], workers=0)
    monkeypatch.undo()
    assert opened == []  # no input file was read again
    assert versions(settings) == before
    assert not report.committed and report.files_new == 0
    assert report.files_skipped == report.files_seen == len(corpus.expect)
    # A new file is picked up, and only it.
    new = corpus.root / "export" / "late" / "IM0001"
    new.parent.mkdir(parents=True)
    new.write_bytes(dataset_bytes(make_dataset("1.2.826.0.1.3680043.10.543.77.999", study="9")))
    report = ingest_dicom(settings, [corpus.root], workers=0)
    assert report.outcomes["instance"] == 1 and report.files_new == 1
    after = versions(settings)
    assert all(after[k] == before[k] + 1 for k in before)


def test_worker_processes_give_the_same_tables(corpus: Corpus, tmp_path: Path) -> None:
    one = Settings(lake=str(tmp_path / "lake_inproc"))
    two = Settings(lake=str(tmp_path / "lake_workers"))
    ingest_dicom(one, [corpus.root], workers=0)
    ingest_dicom(two, [corpus.root], workers=2, batch_files=7)
    files_1, inst_1 = content(one)
    files_2, inst_2 = content(two)
    assert files_1 == files_2
    assert inst_1 == inst_2


def test_crash_between_the_two_commits_of_a_batch(corpus: Corpus, tmp_path: Path, monkeypatch) -> None:
    """Instances of a batch are committed, its file rows are not: the re-run must equal a clean run."""
    clean = Settings(lake=str(tmp_path / "clean"))
    ingest_dicom(clean, [corpus.root], workers=0, batch_files=5)
    crashed = Settings(lake=str(tmp_path / "crashed"))
    real = landing.Lander.commit_files
    calls = {"n": 0}

    def crash_on_third(self, table, txn):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash after the instances commit")
        return real(self, table, txn)

    monkeypatch.setattr(landing.Lander, "commit_files", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_dicom(crashed, [corpus.root], workers=0, batch_files=5)
    monkeypatch.undo()
    landed_files = len(rows(crashed, FILES))
    assert 0 < landed_files < len(corpus.expect)
    # The crash window: some instance rows have no dicom_files row yet.
    file_paths = {r["file_path"] for r in rows(crashed, FILES)}
    assert any(r["file_path"] not in file_paths for r in rows(crashed, INSTANCES))
    report = ingest_dicom(crashed, [corpus.root], workers=0, batch_files=5)
    assert report.files_skipped == landed_files
    assert content(crashed) == content(clean)


def test_bad_paths_fail_in_one_line(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope: no such file or folder$"):
        ingest_dicom(settings, [tmp_path / "nope"])
    # missing_ok leaves them out (a sensor's list of files, one removed meanwhile)
    (tmp_path / "there").mkdir()
    report = ingest_dicom(settings, [tmp_path / "nope", tmp_path / "there"], missing_ok=True)
    assert report.files_seen == 0


def test_overlapping_roots_and_single_files(tmp_path: Path, settings: Settings) -> None:
    corpus = build_corpus(tmp_path / "in")
    sub = corpus.root / "charsets"
    one_file = corpus.names["plain_1_1"]
    report = ingest_dicom(settings, [sub, corpus.root, one_file], workers=0)
    assert report.files_seen == len(corpus.expect)
    assert sorted(r["file_path"] for r in rows(settings, FILES)) == on_disk(corpus.root)
    shutil.rmtree(corpus.root)


def test_a_parser_failure_on_one_file_is_a_reject_naming_it(
    corpus: Corpus, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception the parser did not foresee turns that one file into a reject; the others still land."""
    from ingestion.dicom import workers

    victim = next(p for p, (outcome, _) in sorted(corpus.expect.items()) if outcome == "instance")
    real = workers.parse_header

    def parse(buf, size=None, limits=None):
        header = real(buf, size) if limits is None else real(buf, size, limits)
        if header.values.get("sop_instance_uid") == corpus_uid:
            raise RuntimeError("unforeseen")
        return header

    corpus_uid = real(Path(victim).read_bytes(), None).values["sop_instance_uid"]
    monkeypatch.setattr(workers, "parse_header", parse)
    report = ingest_dicom(settings, [corpus.root], workers=0)
    files = {r["file_path"]: r for r in rows(settings, FILES)}
    assert sorted(files) == on_disk(corpus.root)
    assert files[victim]["outcome"] == "reject"
    assert files[victim]["reason"] == "malformed_header: parser failed (RuntimeError: unforeseen)"
    assert report.outcomes["instance"] >= 1
