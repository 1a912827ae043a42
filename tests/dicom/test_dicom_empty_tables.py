"""Before any DICOM file lands (a backfill of days before the first arrival), the tables exist, empty."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ingestion.dicom.landing import FILES, INSTANCES, ensure_tables
from radlake import catalog, lake
from radlake.config import Settings


def test_empty_dicom_tables_are_created_once_and_roll_up_to_nothing(tmp_path: Path, spark) -> None:
    from transforms.dicom.job import build_dicom_rollups

    settings = Settings(lake=str(tmp_path / "lake"), warehouse=str(tmp_path / "gold" / "w.duckdb"))
    ensure_tables(settings)
    ensure_tables(settings)  # a second run commits nothing

    for spec in (FILES, INSTANCES):
        uri = catalog.table_uri(settings, spec)
        assert lake.table_version(settings, uri) == 0
        data = lake.read_arrow(settings, uri)
        assert data is not None and data.num_rows == 0
        assert pa.schema(data.schema).names == spec.schema.names
    from transforms.dicom import ROLLUP_TABLES

    assert build_dicom_rollups(spark, settings) == {f"silver/{name}": 0 for name in ROLLUP_TABLES}
