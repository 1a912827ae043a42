"""Silver suites: keys present and unique, codes from the standard's tables, one empi_id per record, links."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from expectations.suites import Suite
from radlake import catalog

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

ORDER_STATUSES = list(catalog.ORDER_STATUSES)
PRIORITIES = list(catalog.PRIORITIES)
MAPPING_STATUSES = list(catalog.MAPPING_STATUSES)
MIN_LINKED_STUDY_SHARE = 0.9
"""Studies whose accession number matches an order; below this the RIS and PACS disagree systematically."""


# --- derived columns (pure pandas) ------------------------------------------------------------------------


def first_invalid_code(codes: Iterable[Any] | None, version: str | None = None) -> str | None:
    """The first code that is not a valid 14-digit code of the exam standard, with the reason; None if all are.

    Parameters
    ----------
    codes
        The codes of one row (a list, an array, or None).
    version
        The standard version the codes claim (None: the newest shipped one; an unknown version is itself
        the problem).
    """
    from radlake.errors import DataError
    from radlake.exam_standard import load_standard

    codes = list(codes) if codes is not None else []
    if not codes:
        return None
    try:
        standard = load_standard(version or None)
    except DataError:
        return f"unknown standard version {version!r}"
    for code in codes:
        problems = standard.code_problems(str(code))
        if problems:
            return f"{code}: {problems[0]}"
    return None


def prepare_patient_master(df: pd.DataFrame, key: bytes | None = None) -> pd.DataFrame:
    """silver/patient_master with the record id (it holds the mrn) replaced by its pseudonym under ``key``
    (default: the site key from the environment)."""
    import pandas as pd

    from radlake.pseudonym import keyed_pseudonym, load_key

    key = key or load_key()

    ids = [r if isinstance(r, str) else None for r in df["record_id"]]
    return pd.DataFrame(
        {
            "patient_record_key": [keyed_pseudonym(key, r) for r in ids],
            "institution": [r.split(":", 1)[0] if r and ":" in r else None for r in ids],
            "record_id_well_formed": [r is not None and ":" in r and all(r.split(":", 1)) for r in ids],
            "empi_id": df["empi_id"],
            "match_probability": df["match_probability"],
        }
    )


def _is_list(value: Any) -> bool:
    # Lists from Arrow arrive as numpy arrays; a 0-d array is a scalar in disguise.
    return (
        value is not None and not isinstance(value, str) and hasattr(value, "__len__") and getattr(value, "ndim", 1) > 0
    )


def prepare_exams(df: pd.DataFrame) -> pd.DataFrame:
    """silver/exams plus ``_invalid_code`` (first bad code of the row and why, or None)."""
    out = df.copy()
    out["_invalid_code"] = [first_invalid_code(c) if _is_list(c) else None for c in df["exam_codes"]]
    return out


def prepare_name_map(df: pd.DataFrame) -> pd.DataFrame:
    """silver/exam_name_map plus ``_invalid_code``, ``_code_count`` and ``_names_aligned``."""
    out = df.copy()
    versions = df["standard_version"] if "standard_version" in df else [None] * len(df)
    out["_invalid_code"] = [
        first_invalid_code(c, v) if _is_list(c) else None for c, v in zip(df["codes"], versions, strict=True)
    ]
    out["_code_count"] = [len(c) if _is_list(c) else 0 for c in df["codes"]]
    out["_names_aligned"] = [
        (len(c) if _is_list(c) else 0) == (len(n) if _is_list(n) else 0)
        for c, n in zip(df["codes"], df["standard_names"], strict=True)
    ]
    return out


# --- suites -----------------------------------------------------------------------------------------------


def _exams() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="accession_number", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToNotBeNull(column="institution", severity=FailureSeverity.CRITICAL),
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["institution", "accession_number"], severity=FailureSeverity.CRITICAL
        ),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES, severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeInSet(column="priority", value_set=PRIORITIES, severity=FailureSeverity.WARNING),
        e.ExpectColumnValuesToNotBeNull(column="exam_date", severity=FailureSeverity.CRITICAL),
        # A performed exam whose modality is unknown cannot be counted in the marts.
        e.ExpectColumnValuesToNotBeNull(
            column="modality",
            row_condition="exam_started_at.notnull()",
            condition_parser="pandas",
            severity=FailureSeverity.CRITICAL,
        ),
        # Codes are 14 digits from the standard's tables: a bad one would be counted as an item in gold.
        e.ExpectColumnValuesToBeNull(column="_invalid_code", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeInSet(
            column="exam_name_status", value_set=MAPPING_STATUSES, severity=FailureSeverity.WARNING
        ),
    ]


def _name_map() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="institution", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToNotBeNull(column="raw_name", severity=FailureSeverity.CRITICAL),
        e.ExpectCompoundColumnsToBeUnique(column_list=["institution", "raw_name"], severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=MAPPING_STATUSES, severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeNull(column="_invalid_code", severity=FailureSeverity.CRITICAL),
        # A matched name has at least one code; a name that is no exam has none.
        e.ExpectColumnValuesToBeBetween(
            column="_code_count",
            min_value=1,
            row_condition='status == "matched"',
            condition_parser="pandas",
            severity=FailureSeverity.CRITICAL,
        ),
        e.ExpectColumnValuesToBeBetween(
            column="_code_count",
            max_value=0,
            row_condition='status == "not_exam"',
            condition_parser="pandas",
            severity=FailureSeverity.CRITICAL,
        ),
        e.ExpectColumnValuesToBeInSet(column="_names_aligned", value_set=[True], severity=FailureSeverity.WARNING),
        e.ExpectColumnValuesToNotBeNull(column="standard_version", severity=FailureSeverity.WARNING),
        e.ExpectColumnValuesToBeBetween(
            column="confidence", min_value=0, max_value=1, severity=FailureSeverity.WARNING
        ),
    ]


def _patient_master() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    return [
        # One empi_id per record: a record appears once and is linked.
        e.ExpectColumnValuesToNotBeNull(column="patient_record_key", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeUnique(column="patient_record_key", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToNotBeNull(column="empi_id", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeInSet(
            column="record_id_well_formed", value_set=[True], severity=FailureSeverity.WARNING
        ),
        e.ExpectColumnValuesToBeBetween(
            column="match_probability", min_value=0, max_value=1, severity=FailureSeverity.WARNING
        ),
    ]


def _accession_links() -> list[Expectation]:
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="study_instance_uid", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToBeUnique(column="study_instance_uid", severity=FailureSeverity.CRITICAL),
        e.ExpectColumnValuesToNotBeNull(
            column="accession_number", mostly=MIN_LINKED_STUDY_SHARE, severity=FailureSeverity.WARNING
        ),
        e.ExpectColumnValuesToBeInSet(
            column="links_to_order", value_set=[True], mostly=MIN_LINKED_STUDY_SHARE, severity=FailureSeverity.WARNING
        ),
    ]


EXAMS = Suite(
    name="silver_exams",
    layer="silver",
    table="silver/exams",
    build=_exams,
    description=(
        "silver/exams: one row per (institution, accession_number), statuses known, codes valid in the standard."
    ),
    # Personal columns (patient_id, mrn) are not read: failing-row samples must not carry them.
    columns=(
        "institution",
        "accession_number",
        "priority",
        "status",
        "modality",
        "exam_date",
        "exam_started_at",
        "exam_codes",
        "exam_name_status",
    ),
    prepare=prepare_exams,
)

EXAM_NAME_MAP = Suite(
    name="silver_exam_name_map",
    layer="silver",
    table="silver/exam_name_map",
    build=_name_map,
    description="silver/exam_name_map: one row per raw name, codes valid in their standard version, statuses known.",
    prepare=prepare_name_map,
)

PATIENT_MASTER = Suite(
    name="silver_patient_master",
    layer="silver",
    table="silver/patient_master",
    build=_patient_master,
    description="silver/patient_master: one empi_id per patient record (records named by pseudonymous key).",
    columns=("record_id", "empi_id", "match_probability"),
    prepare=prepare_patient_master,
    keyed=True,
)

ACCESSION_LINKS = Suite(
    name="silver_accession_links",
    layer="silver",
    table="silver/exams",
    build=_accession_links,
    description="DICOM studies carry an accession number that links them to an order in silver/exams.",
    sql="""
        with studies as (
            select study_instance_uid, mode(nullif(trim(accession_number), '')) as accession_number
            from delta_scan('{lake}/bronze/dicom_instances')
            group by study_instance_uid
        )
        select
            studies.study_instance_uid,
            studies.accession_number,
            studies.accession_number in (select accession_number from delta_scan('{lake}/silver/exams'))
                as links_to_order
        from studies
    """,
    requires=("bronze/dicom_instances", "silver/exams"),
)

SUITES = (EXAMS, EXAM_NAME_MAP, PATIENT_MASTER, ACCESSION_LINKS)
