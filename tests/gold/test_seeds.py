"""The seeds copy the exam standard's tables verbatim, and require only header fields staging measures."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from radlake.exam_standard import available_versions
from radlake.warehouse import DBT_PROJECT_DIR

SEEDS = DBT_PROJECT_DIR / "seeds"


def test_standard_seeds_equal_the_newest_reference_tables() -> None:
    folder = list(available_versions().values())[-1]
    for table in ("modality", "body_part", "scan_method", "post_processing", "addon"):
        seed = (SEEDS / f"exam_standard_{table}.csv").read_bytes()
        assert seed == (folder / f"{table}.csv").read_bytes(), table


def _measured_fields() -> set[str]:
    macro = (DBT_PROJECT_DIR / "macros" / "header_fields.sql").read_text(encoding="utf-8")
    return set(re.findall(r"'([A-Za-z]+)': 'has_[a-z_]+'", macro))


def test_required_header_fields_are_measured() -> None:
    with (SEEDS / "consensus_header_fields.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    required = {r["header_field"] for r in rows}
    assert required and required <= _measured_fields()
    # The consensus covers CT, MR and DR (DX/CR in DICOM); each gets the patient and exam fields.
    for modality in ("CT", "MR", "DX", "CR"):
        fields = {r["header_field"] for r in rows if r["modality"] == modality}
        assert {"InstitutionName", "PatientName", "PatientSex", "PatientAge", "PatientID", "StudyDate"} <= fields
    assert {"SliceThickness", "KVP", "Exposure"} <= {r["header_field"] for r in rows if r["modality"] == "CT"}


def test_every_measured_flag_exists_in_staging() -> None:
    staging = Path(DBT_PROJECT_DIR / "models" / "staging" / "stg_bronze__dicom_instances.sql").read_text(
        encoding="utf-8"
    )
    macro = (DBT_PROJECT_DIR / "macros" / "header_fields.sql").read_text(encoding="utf-8")
    for flag in re.findall(r"'(has_[a-z_]+)'", macro):
        assert f" as {flag}," in staging or f" as {flag}\n" in staging, flag
