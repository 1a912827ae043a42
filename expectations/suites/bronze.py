"""Bronze suites: keys present, DICOM UIDs well formed, dates parse, the reject rate under a threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites import Suite
from radlake import catalog
from radlake.pseudonym import keyed_pseudonym, load_key

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

UID_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"
"""A DICOM UID (PS3.5 9.1): dot-separated numbers without leading zeros; at most 64 characters."""

SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_OUTCOMES = list(catalog.FILE_OUTCOMES)
MAX_REJECT_SHARE = 0.05
"""A folder where more than 5 % of the files are no readable DICOM is a broken export, not noise."""

MIN_PARSED_DATE_SHARE = 0.95
"""Study dates that must parse; the rest are kept (as study_date_raw) but flagged."""


def _dicom_files() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="file_path", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeUnique(column="file_path", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeInSet(column="outcome", value_set=FILE_OUTCOMES, severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToMatchRegex(column="sha256", regex=SHA256_PATTERN, severity=FailureSeverity.CRITICAL),
        # Every landed instance, duplicate and conflict names its SOP Instance UID.
        e.ExpectColumnValuesToNotBeNull(
            column="sop_instance_uid",
            row_condition='outcome != "reject"',
            condition_parser="pandas",
            severity=FailureSeverity.CRITICAL,
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="reason",
            row_condition='outcome == "reject"',
            condition_parser="pandas",
            severity=FailureSeverity.WARNING,
        ),
        e.ExpectColumnValuesToNotBeInSet(
            column="outcome", value_set=["reject"], mostly=1 - MAX_REJECT_SHARE, severity=FailureSeverity.WARNING
        ),
    ]


def _dicom_instances() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    uids = ("sop_instance_uid", "study_instance_uid", "series_instance_uid")
    out: list[Expectation] = [
        e.ExpectColumnValuesToNotBeNull(column="sop_instance_uid", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeUnique(column="sop_instance_uid", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToNotBeNull(column="study_instance_uid", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToNotBeNull(column="series_instance_uid", severity=FailureSeverity.CRITICAL),
    ]
    for uid in uids:
        out.append(e.ExpectColumnValuesToMatchRegex(column=uid, regex=UID_PATTERN, severity=FailureSeverity.CRITICAL))
        out.append(
            e.ExpectColumnValueLengthsToBeBetween(
                column=uid, min_value=1, max_value=64, severity=FailureSeverity.CRITICAL
            )
        )
    out += [
        e.ExpectColumnValuesToNotBeNull(column="modality", severity=FailureSeverity.WARNING),
        # Dates parse: a raw StudyDate is there but could not be read as YYYYMMDD.
        e.ExpectColumnValuesToNotBeNull(
            column="study_date",
            row_condition="study_date_raw.notnull()",
            condition_parser="pandas",
            mostly=MIN_PARSED_DATE_SHARE,
            severity=FailureSeverity.WARNING,
        ),
        e.ExpectColumnValuesToMatchStrftimeFormat(
            column="study_date_raw",
            strftime_format="%Y%m%d",
            mostly=MIN_PARSED_DATE_SHARE,
            severity=FailureSeverity.WARNING,
        ),
    ]
    return out


def prepare_dicom_files(df: pd.DataFrame, key: bytes | None = None) -> pd.DataFrame:
    """File paths as pseudonymous keys: PACS export folders are often named after the patient's MRN, and the
    quality output (Data Docs, failing rows, history) must not carry it. The checksum still finds the file.
    ``key``: the site key (default: from the environment)."""
    key = key or load_key()
    return df.assign(file_path=df["file_path"].map(lambda p: keyed_pseudonym(key, p), na_action="ignore"))


DICOM_FILES = Suite(
    name="bronze_dicom_files",
    layer="bronze",
    table="bronze/dicom_files",
    build=_dicom_files,
    description="bronze/dicom_files: every file once, known outcome and checksum, rejects under 5 %.",
    columns=("file_path", "sha256", "outcome", "sop_instance_uid", "reason"),
    prepare=prepare_dicom_files,
    keyed=True,
)

DICOM_INSTANCES = Suite(
    name="bronze_dicom_instances",
    layer="bronze",
    table="bronze/dicom_instances",
    build=_dicom_instances,
    description="bronze/dicom_instances: one row per SOP instance, UIDs well formed, study dates parse.",
    # Keys and checked columns only: no personal header values, no header_json.
    columns=(
        "sop_instance_uid",
        "study_instance_uid",
        "series_instance_uid",
        "modality",
        "study_date",
        "study_date_raw",
    ),
)

SUITES = (DICOM_FILES, DICOM_INSTANCES)
