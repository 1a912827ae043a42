"""Data quality: Great Expectations suites per table, their runs, the failing-row samples and the stewards' report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from expectations.report import data_docs_site, summary_path, write_report
    from expectations.results import ExpectationOutcome, SuiteResult
    from expectations.suite_run import run_suite, run_suites
    from expectations.suites import Suite, all_suites, suites_for_layer

__all__ = [
    "ExpectationOutcome",
    "Suite",
    "SuiteResult",
    "all_suites",
    "data_docs_site",
    "run_suite",
    "run_suites",
    "suites_for_layer",
    "summary_path",
    "write_report",
]

__getattr__ = lazy_face(
    __name__,
    {
        "ExpectationOutcome": "results",
        "Suite": "suites",
        "SuiteResult": "results",
        "all_suites": "suites",
        "data_docs_site": "report",
        "run_suite": "suite_run",
        "run_suites": "suite_run",
        "suites_for_layer": "suites",
        "summary_path": "report",
        "write_report": "report",
    },
)
