"""Silver suites: keys present and unique, values from the agreed sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites import Suite

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

ORDER_STATUSES = ["ordered", "scheduled", "in_progress", "completed", "cancelled"]
PRIORITIES = ["routine", "emergency", "consult"]


def _exams() -> list[Expectation]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="accession_number", severity="critical"),
        e.ExpectColumnValuesToNotBeNull(column="institution", severity="critical"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["institution", "accession_number"], severity="critical"),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES, severity="critical"),
        e.ExpectColumnValuesToBeInSet(column="priority", value_set=PRIORITIES, severity="warning"),
        e.ExpectColumnValuesToNotBeNull(column="exam_date", severity="critical"),
        # A performed exam whose modality is unknown cannot be counted in the marts.
        e.ExpectColumnValuesToNotBeNull(
            column="modality",
            row_condition="exam_started_at.notnull()",
            condition_parser="pandas",
            severity="critical",
        ),
    ]


EXAMS = Suite(
    name="silver_exams",
    layer="silver",
    table="silver/exams",
    build=_exams,
    description="silver/exams: one row per (institution, accession_number), statuses and priorities known.",
)
