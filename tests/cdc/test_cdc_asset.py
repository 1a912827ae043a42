"""The CDC asset drains its source like ``radlake cdc sync`` and marks a run stopped by its time bound as lagging."""

from __future__ import annotations

import dagster as dg
import pytest

from ingestion.cdc.status import last_sync
from orchestration.bronze.assets import cdc_source_assets
from orchestration.resources import RadlakeResource
from radlake.config import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _materialize(config) -> dict:
    settings = load_settings(config)
    (asset,) = cdc_source_assets(settings)
    result = dg.materialize([asset], resources={"radlake": RadlakeResource(config_path=str(config))})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_cdc_asset_marks_a_time_bounded_run_as_lagging(source_db, tmp_path):
    conn = source_db.conn
    conn.execute("CREATE TABLE ris.t (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO ris.t VALUES (1, 'a')")
    config = source_db.write_config(tmp_path, tmp_path / "lake")
    config.write_text(config.read_text() + "cdc:\n  batch_messages: 100\n  max_sync_seconds: 0.000001\n")

    first = _materialize(config)  # the snapshot, nothing waiting after it
    assert first["cdc/lagging"] is False and first["caught_up"] is True

    conn.execute("INSERT INTO ris.t SELECT g, 'x' FROM generate_series(2, 1001) g")  # one transaction: one batch
    conn.execute("UPDATE ris.t SET v = 'y' WHERE id <= 500")
    lagging = _materialize(config)
    assert lagging["cdc/lagging"] is True and lagging["caught_up"] is False
    assert "cdc.max_sync_seconds" in lagging["warning"] and lagging["batches"] == 1
    record = last_sync(load_settings(config), "src")
    assert record is not None and record["caught_up"] is False and record["warning"] == lagging["warning"]
