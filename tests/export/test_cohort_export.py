"""Cohorts and the de-identified export on the demo lake, checked against truth and tools no one here wrote."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import bagit
import pyarrow.compute as pc
import pydicom
import pytest

from radlake import catalog, lake
from radlake.config import Settings, load_settings
from radlake.lake import Lake
from transforms.cohorts import build_cohort, current_members, load_cohort
from transforms.export import ExportRun

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def settings(demo_run, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo's config on a copy of its lake (the shared demo lake stays as the pipeline left it)."""
    workdir, _summary = demo_run
    copy = tmp_path_factory.mktemp("export") / "lake"
    shutil.copytree(workdir / "lake", copy, ignore=shutil.ignore_patterns("gold"))
    return load_settings(workdir / "radlake.yaml", lake=str(copy))


def _chest_ct_truth(settings: Settings) -> set[str]:
    """Chest CTs computed from silver/exams with Arrow (not the cohort's Spark filter)."""
    exams = lake.read_arrow(settings, catalog.uri(settings, "silver", "exams"))
    assert exams is not None
    out = set()
    for row in exams.to_pylist():
        codes = row["exam_codes"] or []
        if (
            row["study_instance_uid"]
            and row["status"] != "cancelled"
            and (row["modality"] or "").upper() == "CT"
            and any(c.startswith("2003") for c in codes)
        ):
            out.add(row["study_instance_uid"])
    return out


def test_demo_cohort_is_built_and_rebuilds_show_changes(settings: Settings, spark) -> None:
    members = current_members(settings, "demo-chest-ct")
    assert members is not None, "the demo builds its example cohort"
    truth = _chest_ct_truth(settings)
    assert truth, "the demo has chest CTs"
    assert set(members["study_instance_uid"].to_pylist()) == truth
    rule = load_cohort(settings, "demo-chest-ct")
    version = Lake(settings).table("silver", "cohort_members").version()
    again = build_cohort(spark, settings, rule)
    # The same rule over the same lake: the newest build stands, and nothing is committed.
    assert (again.build, again.joined, again.left, again.members) == (members["build"][0].as_py(), (), (), len(truth))
    assert Lake(settings).table("silver", "cohort_members").version() == version
    narrowed = rule.model_copy(update={"filters": rule.filters.model_copy(update={"institutions": ["h01"]})})
    third = build_cohort(spark, settings, narrowed)
    assert third.left and not third.joined and third.rule_hash != rule.rule_hash
    build_cohort(spark, settings, rule)  # back to the demo's rule for the export below


def _secrets(settings: Settings, sources: list[pydicom.Dataset]) -> set[str]:
    """What must not survive: names, IDs, accession numbers, instance UIDs and dates of the sources, and every
    identifier the RIS holds for their patients (names, MRNs, resident IDs, phones)."""
    found: set[str] = set()
    patient_ids = set()
    for ds in sources:
        patient_ids.add(str(ds.PatientID))
        for keyword in ("PatientID", "AccessionNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            if ds.get(keyword):
                found.add(str(ds.get(keyword)))
        for group in str(ds.PatientName).split("="):  # alphabetic, ideographic, phonetic: each whole
            found |= {group, group.replace("^", ""), group.replace("^", " ")} - {""}
        found |= {str(e.value) for e in ds.iterall() if e.VR == "DA" and e.value}
    for name in settings.sources:
        patients = lake.read_arrow(settings, catalog.uri(settings, "silver", catalog.cdc_table_name(name, "patients")))
        if patients is None:
            continue
        for row in patients.to_pylist():
            if str(row["patient_id"]) in patient_ids or str(row["mrn"]) in patient_ids:
                found |= {str(row[k]) for k in ("name", "mrn", "id_number", "phone") if row.get(k)}
    return {s for s in found if len(s) >= 2}


def _texts(ds: pydicom.Dataset) -> str:
    values = [str(e.value) for e in ds.iterall() if e.VR not in ("SQ", "OB", "OW")]
    values += [str(e.value) for e in ds.file_meta]
    return "\n".join(values)


def _dciodvfy_errors(path: Path) -> set[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, timeout=60)
    text = (out.stdout + out.stderr).decode("utf-8", "replace")  # it echoes values in the file's own charset
    return {line.split(" - ", 1)[-1] for line in text.splitlines() if line.startswith("Error")}


def test_export_holds_up(settings: Settings, tmp_path: Path) -> None:
    rule = load_cohort(settings, "demo-chest-ct")
    instances = lake.read_arrow(settings, catalog.uri(settings, "bronze", "dicom_instances"))
    assert instances is not None
    members = current_members(settings, "demo-chest-ct")
    assert members is not None
    expected = instances.filter(pc.is_in(instances["study_instance_uid"], members["study_instance_uid"]))
    assert expected.num_rows > 0

    # A crash mid-export: the progress callback dies after a third of the instances; a re-run finishes.
    bag_dir = tmp_path / "bag"
    run = ExportRun(settings, rule, str(bag_dir))

    def crash(done: int, total: int) -> None:
        if done == max(1, total // 3):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run(crash)
    summary = ExportRun(settings, rule, str(bag_dir)).run()
    assert summary.failed == 0
    assert summary.exported + summary.quarantined == expected.num_rows

    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # every payload file against both manifests, and the Payload-Oxum
    files = sorted((bag_dir / "data").rglob("*.dcm"))
    assert len(files) == summary.exported  # each instance written once, whatever the crash left

    sources = {r["sop_instance_uid"]: r["file_path"] for r in expected.to_pylist()}
    source_sets = [pydicom.dcmread(p) for p in sources.values()]
    secrets = _secrets(settings, source_sets)
    assert any(s in _texts(source_sets[0]) for s in secrets), "the scan finds identifiers in the sources"
    exported_table = lake.read_arrow(settings, catalog.uri(settings, "silver", "export_instances"))
    assert exported_table is not None
    by_new = {r["new_sop_instance_uid"]: r["sop_instance_uid"] for r in exported_table.to_pylist()}
    checked = 0
    for path in files:
        ds = pydicom.dcmread(path)
        raw = path.read_bytes()
        text = _texts(ds)
        leaks = [s for s in secrets if s in text or s.encode("utf-8", "ignore") in raw]
        assert leaks == [], f"{path.name}: {leaks[:3]}"
        source_path = sources[by_new[str(ds.SOPInstanceUID)]]
        source = pydicom.dcmread(source_path)
        assert hashlib.sha256(ds.PixelData).digest() == hashlib.sha256(source.PixelData).digest()
        assert ds.PatientIdentityRemoved == "YES"
        if checked < 5:  # dciodvfy is slow: a sample; it may add no error the source did not have
            assert _dciodvfy_errors(path) <= _dciodvfy_errors(Path(source_path)), path.name
        checked += 1
    # Intervals within a patient hold: every exported study of a patient moved by the same number of days.
    assert checked == summary.exported
