"""The orchestrated simulation: truth consistent with the data, determinism, sources, arguments, full size."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pydicom
import pytest

from radlake.config import SourceConfig
from radlake.errors import ConfigError, DataError
from radlake.postgres import stop_embedded_server
from simulator.simulate import (
    EXAMS_COLUMNS,
    FILES_COLUMNS,
    PERSONS_COLUMNS,
    read_manifest,
    simulate,
    source_configs,
)

pytestmark = pytest.mark.integration


def test_truth_files_have_the_contracted_columns(small):
    assert tuple(small.truth("persons").columns) == PERSONS_COLUMNS
    assert tuple(small.truth("exams").columns) == EXAMS_COLUMNS
    assert tuple(small.truth("files").columns) == FILES_COLUMNS
    assert PERSONS_COLUMNS == ("record_id", "institution", "mrn", "person_id")
    assert set(EXAMS_COLUMNS) == {
        "accession_number", "institution", "mrn", "person_id", "exam_date", "modality", "raw_exam_name", "codes",
        "kind", "performed", "has_images",
    }  # fmt: skip


def test_persons_truth_is_the_patients_tables(small):
    persons = small.truth("persons")
    assert persons["record_id"].is_unique
    assert (persons["record_id"] == persons["institution"] + ":" + persons["mrn"]).all()
    for inst in small.summary.institutions:
        patients = small.table(inst, "patients")
        assert sorted(patients["mrn"]) == sorted(persons.loc[persons["institution"] == inst, "mrn"])
    # One person registered at several institutions exists (the EMPI's job).
    per_person = persons.groupby("person_id")["institution"].nunique()
    assert (per_person > 1).any()


def test_exams_truth_is_consistent_with_the_databases(small):
    exams = small.truth("exams")
    files = small.truth("files")
    for inst in small.summary.institutions:
        truth = exams[exams["institution"] == inst].set_index("accession_number")
        orders = small.table(inst, "exam_orders").set_index("accession_number")
        records = small.table(inst, "exam_records")
        patients = small.table(inst, "patients").set_index("patient_id")
        assert sorted(truth.index) == sorted(orders.index)  # one truth row per order
        performed = set(orders.loc[orders["order_id"].isin(records["order_id"])].index)
        assert set(truth.index[truth["performed"] == "true"]) == performed
        assert (truth.loc[orders.index, "raw_exam_name"] == orders["raw_exam_name"]).all()
        assert (truth.loc[orders.index, "mrn"] == orders["patient_id"].map(patients["mrn"])).all()
        # Exams carry a DICOM modality and 14-digit codes; billing lines neither.
        is_exam = truth["kind"] == "exam"
        assert truth.loc[is_exam, "codes"].str.fullmatch(r"\d{14}(\|\d{14})*").all()
        assert (truth.loc[~is_exam, "codes"] == "").all() and (truth.loc[~is_exam, "modality"] == "").all()
        assert set(truth.loc[is_exam, "modality"]) <= {"CT", "MR", "DX", "MG", "US"}
        assert (orders.loc[truth.index[is_exam], "modality"] == truth.loc[is_exam, "modality"]).all()
        # exam_date is the local date of the exam start.
        rec = records.merge(orders.reset_index()[["order_id", "accession_number"]], on="order_id")
        local = rec.set_index("accession_number")["started_at"].dt.tz_convert("Asia/Shanghai").dt.date.astype(str)
        assert (truth.loc[local.index, "exam_date"] == local).all()
        # has_images ⇔ a study of that accession was written; a few performed exams have none.
        imaged = set(files.loc[(files["institution"] == inst) & (files["orphan"] == "false"), "accession_number"])
        assert set(truth.index[truth["has_images"] == "true"]) == imaged
        assert imaged < performed
        # Studies whose accession matches no order exist too.
        orphans = set(files.loc[(files["institution"] == inst) & (files["orphan"] == "true"), "accession_number"])
        assert orphans and not orphans & set(orders.index)


def test_source_configs_name_each_institution_database(small):
    sources = source_configs(small.out)
    assert list(sources) == ["ris_h01", "ris_h02"]
    for name, raw in sources.items():
        cfg = SourceConfig(**raw)
        assert cfg.embedded_pgdata == small.out / "postgres"
        assert cfg.database == name and cfg.db_schema == "ris" and cfg.mode == "logical"
        assert cfg.institution == name.removeprefix("ris_")
    assert read_manifest(small.out)["seed"] == 11


def _file_digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("dicom", "truth")
        for p in sorted((out / sub).rglob("*"))
        if p.is_file()
    }


def _headers(out: Path) -> dict[str, str]:
    heads = {}
    for p in sorted((out / "dicom").rglob("*")):
        if p.is_file():
            try:
                heads[str(p.relative_to(out))] = str(pydicom.dcmread(p, stop_before_pixels=True, force=True))
            except Exception as exc:  # corrupt on purpose: compare the failure
                heads[str(p.relative_to(out))] = type(exc).__name__
    return heads


@pytest.mark.slow
def test_same_seed_gives_identical_databases_and_files(small, make_small, workdir):
    again = make_small(workdir / "again")
    try:
        assert again.dump() == small.dump()
        assert _headers(again.out) == _headers(small.out)
        assert _file_digests(again.out) == _file_digests(small.out)
    finally:
        stop_embedded_server(again.out / "postgres")
    other = make_small(workdir / "other", seed=12)
    try:
        assert other.dump() != small.dump()
        assert _headers(other.out) != _headers(small.out)
    finally:
        stop_embedded_server(other.out / "postgres")


def test_simulating_again_replaces_the_previous_output(workdir):
    out = workdir / "sim"
    first = simulate(out, institutions=2, days=1, exams_per_day=10, seed=3)
    assert not (out / "postgres" / "postmaster.pid").exists()  # the server is stopped by default
    (out / "keep.txt").write_text("not the simulator's")
    second = simulate(out, institutions=1, days=1, exams_per_day=10, seed=3)
    assert first.institutions == ["h01", "h02"] and second.institutions == ["h01"]
    assert not (out / "dicom" / "h02").exists()
    assert list(source_configs(out)) == ["ris_h01"]
    assert (out / "keep.txt").exists()
    assert second.dicom_files == sum(1 for p in (out / "dicom").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"institutions": 0}, "--institutions"),
        ({"days": 0}, "--days"),
        ({"exams_per_day": 0}, "--exams-per-day"),
    ],
)
def test_bad_sizes_are_refused_with_one_line(workdir, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        simulate(workdir / "x", **kwargs)


def test_an_unrelated_postgres_folder_is_not_replaced(workdir):
    out = workdir / "sim"
    (out / "postgres").mkdir(parents=True)
    (out / "postgres" / "precious.txt").write_text("x")
    with pytest.raises(DataError, match="no PostgreSQL data folder"):
        simulate(out, institutions=1, days=1, exams_per_day=5)
    assert (out / "postgres" / "precious.txt").exists()


@pytest.mark.slow
def test_full_default_size(workdir):
    """3 institutions × 7 days × 300 orders a day, as `radlake simulate` makes by default."""
    summary = simulate(workdir / "full")
    assert summary.institutions == ["h01", "h02", "h03"]
    assert 0.9 * 6300 <= summary.tables["exam_orders"] <= 1.1 * 6300
    assert summary.tables["exam_records"] > 0.9 * summary.tables["exam_orders"]
    assert summary.studies > 0.9 * summary.tables["exam_records"]
    assert summary.dicom_files > 3 * summary.studies
    # About 0.2% corrupt files, and a few duplicates.
    assert 0.001 < summary.corrupt_files / summary.dicom_files < 0.004
    assert summary.duplicate_files > 0
    assert read_manifest(workdir / "full")["start_date"] == date(2026, 11, 1).isoformat()
