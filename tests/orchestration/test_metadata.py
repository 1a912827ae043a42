"""Materialisation metadata shows every UI user a preview: never an identifier column, whatever an asset asks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from orchestration.metadata import report_metadata, table_metadata
from radlake.config import Settings


def test_preview_leaves_identifier_columns_out(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    uri = str(tmp_path / "lake" / "silver" / "exams")
    rows = {
        "institution": ["h01", "h02"],
        "accession_number": ["H01A0001", "H02B0002"],
        "mrn": ["M8800001", "P7700009"],
        "study_instance_uid": ["1.2.826.0.1.1", "1.2.826.0.2.2"],
        "modality": ["CT", "MR"],
    }
    write_deltalake(uri, pa.table(rows))
    meta = table_metadata(settings, uri, preview_columns=list(rows))
    preview = meta["preview"].value
    assert "institution" in preview and "CT" in preview and "MR" in preview
    for column in ("accession_number", "mrn", "study_instance_uid"):
        assert column not in preview
        assert not any(value in preview for value in rows[column])
    only_ids = table_metadata(settings, uri, preview_columns=["accession_number", "mrn"])
    assert "preview" not in only_ids and only_ids["dagster/row_count"] == 2


def test_report_metadata_drops_identifier_fields() -> None:
    @dataclass
    class Report:
        files: int
        accession_number: str
        kind: str

    assert report_metadata(Report(3, "H01A0001", "snapshot")) == {"files": 3, "kind": "snapshot"}
