"""The stewards' report: Data Docs that render offline, and a summary page opened in headless Chromium."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from expectations.failing_rows import write_failing_rows
from expectations.offline_docs import CDN_FILES, STATIC_DIR, rewrite_page
from expectations.report import data_docs_site, summary_path, write_report
from expectations.runner import validate
from expectations.suites import bronze, silver
from radlake.config import Settings
from tests.quality.chromium import dump_dom, screenshot

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
EXTERNAL_TAG = re.compile(r"<(script|link)\b[^>]*\b(src|href)\s*=\s*[\"']https?://", re.IGNORECASE)


def test_every_cdn_file_is_vendored() -> None:
    for local in CDN_FILES.values():
        assert (STATIC_DIR / local).is_file(), local
    readme = (STATIC_DIR / "README.md").read_text(encoding="utf-8")
    for package in ("jquery", "bootstrap", "bootstrap-table", "vega", "vega-lite", "vega-embed", "fontawesome"):
        assert package in readme


def test_rewrite_points_cdn_tags_at_local_files() -> None:
    page = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>\n'
        '<script src="https://example.org/unknown.js"></script>\n'
        "<script>var inline = 1;</script>\n"
        '<a href="https://greatexpectations.io">GX</a>\n'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1"/>'
    )
    out, dropped = rewrite_page(page, "../../")
    assert '<link rel="stylesheet" href="../../static/vendor/bootstrap/css/bootstrap.min.css"/>' in out
    assert '<script src="../../static/vendor/popper.js/popper.min.js"></script>' in out
    assert dropped == ["https://example.org/unknown.js"] and "unknown.js" not in out
    assert "var inline = 1;" in out and 'href="https://greatexpectations.io"' in out  # plain links stay
    assert 'src="../../static/images/logo-long.png"' in out
    assert not EXTERNAL_TAG.search(out)


def _files(bad: bool) -> pd.DataFrame:
    n = 20
    frame = pd.DataFrame(
        {
            "file_path": [f"/pacs/{i}.dcm" for i in range(n)],
            "sha256": [f"{i:064x}" for i in range(n)],
            "outcome": ["instance"] * n,
            "sop_instance_uid": [f"1.2.{i}" for i in range(n)],
            "reason": [None] * n,
        }
    )
    if bad:
        frame.loc[0, "file_path"] = frame.loc[1, "file_path"]
    return frame


@pytest.mark.integration
@pytest.mark.slow
def test_summary_page_renders_offline_in_chromium(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    master = pd.DataFrame({"record_id": ["h01:M8800001", "h01:M8800001"], "empi_id": ["E1", "E2"]})
    master["match_probability"] = 1.0
    runs = [(bronze.DICOM_FILES, _files(bad=False)), (bronze.DICOM_FILES, _files(bad=True))]
    runs += [(silver.PATIENT_MASTER, master)]
    for suite, frame in runs:
        batch = suite.prepare(frame) if suite.prepare else frame
        result = validate(settings, suite, batch)
        write_failing_rows(settings, suite, batch, result)
    summary = write_report(settings)
    assert summary == summary_path(settings)

    # Data Docs: no script or stylesheet from the internet, and their scripts run from the vendored copies.
    site = data_docs_site(settings)
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        assert not EXTERNAL_TAG.search(page.read_text(encoding="utf-8")), page
    docs_dom = dump_dom(site / "index.html")
    assert not EXTERNAL_TAG.search(docs_dom)
    assert 'class="bootstrap-table' in docs_dom  # only there once jQuery and bootstrap-table ran offline

    # The summary: verdicts, the trend, links to failing rows.
    dom = dump_dom(summary)
    assert not EXTERNAL_TAG.search(dom)
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "radlake quality report" in text
    assert "bronze_dicom_files" in text and "silver_patient_master" in text
    assert "FAIL" in text and "2 failed (blocking)" in text
    assert "1 of the last 2 runs failed" in text
    links = re.findall(r"href=\"(failing_rows/[^\"]+\.csv)\"", dom)
    assert links, "no link to failing rows"
    for link in links:
        with (settings.quality_dir / link).open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and "record_id" not in rows[0] and "M8800001" not in str(rows)
    assert any("file_path" in link for link in links)
    shot = screenshot(summary, ARTIFACTS / "quality_report.png")
    assert shot.stat().st_size > 10_000
