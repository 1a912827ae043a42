"""Script payloads in every text field of the quality suites' batches: no quality page runs or holds them raw."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from expectations.failing_rows import write_failing_rows
from expectations.report import write_report
from expectations.runner import validate
from expectations.suites import bronze, silver
from radlake.config import Settings
from tests.quality.cdp import Browser
from tests.quality.hostile import MARK, PAYLOADS, assert_no_payload_ran, payload, raw_payloads


def _hostile_instances(n: int = 14) -> pd.DataFrame:
    """DICOM header fields as a hostile sender could fill them (StudyDate, StationName, InstitutionName...)."""
    return pd.DataFrame(
        {
            "sop_instance_uid": [payload(i) for i in range(n)],
            "study_instance_uid": [payload(i + 1) for i in range(n)],
            "series_instance_uid": [payload(i + 2) for i in range(n)],
            "modality": [payload(i + 3) for i in range(n)],
            "study_date": [None] * n,
            "study_date_raw": [payload(i + 4) for i in range(n)],
            "station_name": [payload(i + 5) for i in range(n)],
            "institution_name": [payload(i + 6) for i in range(n)],
        }
    )


def _hostile_name_map(n: int = 7) -> pd.DataFrame:
    """RIS exam names and institutions with payloads (and statuses and codes no suite accepts)."""
    return pd.DataFrame(
        {
            "institution": [payload(i) for i in range(n)],
            "raw_name": [payload(i + 1) for i in range(n)],
            "codes": [[payload(i + 2)] for i in range(n)],
            "standard_names": [[payload(i + 3)] for i in range(n)],
            "status": [payload(i + 4) for i in range(n)],
            "confidence": [2.0] * n,
            "standard_version": [payload(i + 5) for i in range(n)],
        }
    )


def test_the_detectors_catch_a_payload_that_runs(tmp_path: Path) -> None:
    """The checks below can fail: a page with a raw payload is caught by the scan and by the browser."""
    page = tmp_path / "raw.html"
    page.write_text(f"<!DOCTYPE html><html><body><p>{PAYLOADS[1]}</p></body></html>", encoding="utf-8")
    assert raw_payloads(page.read_text(encoding="utf-8"))
    with Browser() as browser:
        browser.open(page)
        assert browser.wait(f"window.{MARK}") == 2


@pytest.mark.integration
@pytest.mark.slow
def test_quality_pages_show_hostile_values_only_as_text(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    results = []
    for suite, frame in ((bronze.DICOM_INSTANCES, _hostile_instances()), (silver.EXAM_NAME_MAP, _hostile_name_map())):
        batch = suite.prepare(frame) if suite.prepare else frame
        result = validate(settings, suite, batch)
        assert not result.success
        results.append(result)
        write_failing_rows(settings, suite, batch, result)
    summary = write_report(settings)

    # Hostile values still reach the stewards, as data: in the failing-row CSVs, quoted against formulas.
    csvs = list((settings.quality_dir / "failing_rows").rglob("*.csv"))
    assert csvs
    cells = [cell for f in csvs for row in csv.reader(f.open(encoding="utf-8")) for cell in row]
    assert any(MARK in c for c in cells)
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)

    # No written HTML file holds a payload raw.
    pages = sorted(settings.quality_dir.rglob("*.html"))
    assert summary in pages and len(pages) >= 5
    for page in pages:
        assert raw_payloads(page.read_text(encoding="utf-8")) == [], page

    # Each page, rendered with its scripts (bootstrap-table builds the Data Docs' tables), runs no payload.
    with Browser() as browser:
        for page in pages:
            assert_no_payload_ran(browser, page)
            assert not [u for u in browser.log.requests if not u.startswith(("file:", "data:"))], page
