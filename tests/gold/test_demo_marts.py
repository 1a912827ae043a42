"""The marts of the shared simulated group (demo_run): dbt green, quality marts equal to the simulator's truth."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from radlake import warehouse
from radlake.config import load_settings
from tests.gold.phi_scan import find_personal_data, personal_values
from tests.gold.test_marts import MARTS, STEWARDS_MARTS

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Header defects the simulator writes on purpose → the consensus field they empty.
DEFECT_FIELDS = {"no_institution_name": "InstitutionName", "no_slice_thickness": "SliceThickness", "no_kvp": "KVP"}


def _truth(workdir: Path, name: str) -> list[dict[str, str]]:
    with (workdir / "truth" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _query(summary: Any, sql: str, *, stewards: bool = False) -> list[tuple[Any, ...]]:
    with warehouse.connect(load_settings(summary.config), stewards=stewards) as con:
        return con.execute(sql).fetchall()


def test_dbt_build_and_every_gold_check_pass(demo_run) -> None:
    _, summary = demo_run
    assert summary.success
    assert set(summary.marts) >= MARTS | STEWARDS_MARTS
    gold = {k: v for k, v in summary.checks.items() if k.startswith("gold/")}
    suites = {k.split(":")[1] for k in gold if k.split(":")[1].startswith("gold_")}
    assert suites == {
        "gold_exam_volume_daily",
        "gold_exam_volume_by_item_daily",
        "gold_standard_coverage",
        "gold_device_utilisation_daily",
        "gold_report_timeliness",
        "gold_link_quality_summary",
    }
    assert len(gold) > 100 and set(gold.values()) == {"passed"}, {k: v for k, v in gold.items() if v != "passed"}


def test_link_quality_marts_find_what_the_simulator_broke(demo_run) -> None:
    workdir, summary = demo_run
    without_images = {
        (r["institution"], r["accession_number"])
        for r in _truth(workdir, "exams.csv")
        if r["performed"].lower() == "true" and r["has_images"].lower() != "true"
    }
    assert without_images
    listed = set(
        _query(summary, "select institution, accession_number from link_quality_exams_without_images", stewards=True)
    )
    assert listed == without_images
    orphans = {r["study_instance_uid"] for r in _truth(workdir, "files.csv") if r["orphan"].lower() == "true"}
    assert orphans
    found = _query(summary, "select study_instance_uid from link_quality_orphan_studies", stewards=True)
    assert {r[0] for r in found} == orphans


def test_header_completeness_counts_the_simulated_defects(demo_run) -> None:
    workdir, summary = demo_run
    landed = [r for r in _truth(workdir, "files.csv") if r["kind"] == "instance" and not r["duplicate_of"]]
    expected: Counter[tuple[str, str]] = Counter()
    for row in landed:
        for defect in filter(None, row["defects"].split("|")):
            if defect in DEFECT_FIELDS:
                expected[(row["modality"], DEFECT_FIELDS[defect])] += 1
    assert expected
    missing = {
        (modality, field): int(n)
        for modality, field, n in _query(
            summary,
            "select modality, header_field, sum(instances - instances_present) from dicom_header_completeness "
            "group by all",
        )
    }
    for key, count in expected.items():
        if key in missing:  # the consensus requires the field on this modality
            assert missing[key] == count, key
    assert missing[("CT", "KVP")] == expected[("CT", "KVP")]
    instances = Counter(r["modality"] for r in landed)
    measured = dict(
        _query(summary, "select modality, sum(instances) from dicom_header_completeness where header_field = "
               "'PatientName' group by all")
    )  # fmt: skip
    assert {m: int(n) for m, n in measured.items()} == {m: instances[m] for m in measured}


def test_demo_gold_holds_no_personal_data(demo_run) -> None:
    _, summary = demo_run
    settings = load_settings(summary.config)
    values = personal_values(settings)
    assert len(values) > 50  # names, mrns, ID numbers and phones of the simulated patients
    assert find_personal_data(settings.warehouse_path, values) == []
