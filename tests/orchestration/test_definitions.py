"""The Dagster definitions load offline and name every asset by layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlake.config import load_settings, write_settings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_settings(
        {
            "lake": "lake",
            "sources": {
                "ris_h01": {
                    "embedded_pgdata": "pg",
                    "database": "ris_h01",
                    "tables": [
                        "departments",
                        "devices",
                        "patients",
                        "visits",
                        "exam_orders",
                        "exam_records",
                        "reports",
                    ],
                },
                "his": {"dsn": "postgresql://x@db/his", "tables": ["*"]},
            },
        },
        tmp_path / "radlake.yaml",
    )


def test_definitions_group_assets_by_layer(config: Path) -> None:
    from orchestration.definitions import build_definitions

    defs = build_definitions(load_settings(config))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "bronze/dicom_files",
        "bronze/dicom_instances",
        "silver/dicom_studies",
        "silver/exams",
        "gold/exam_volume_daily",
        "bronze/ris_h01__exam_orders",
        "silver/ris_h01__exam_orders",
        "bronze/his",
        "silver/patient_master",
        "silver/empi_review_queue",
        "gold/report_deadlines",
    } <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert key.path[0] in ("bronze", "silver", "gold"), key
            assert node.group_name == key.path[0], key
            assert node.description, key
            assert node.owners, key
    checks = {c.name for c in graph.asset_check_keys}
    assert "silver_exams" in checks
    # silver/exams waits for every RIS table it joins.
    parents = {k.to_user_string() for k in graph.get(__import__("dagster").AssetKey(["silver", "exams"])).parent_keys}
    assert "silver/ris_h01__exam_orders" in parents and "bronze/his" in parents
    assert "silver/patient_master" in parents
    # The EMPI reads every source's patients, the DICOM patients and the stewards' decisions.
    empi = {
        k.to_user_string() for k in graph.get(__import__("dagster").AssetKey(["silver", "patient_master"])).parent_keys
    }
    assert {"silver/ris_h01__patients", "bronze/his", "silver/dicom_studies", "silver/empi_decisions"} <= empi


def test_lake_maintenance_job_and_schedule_are_defined(config: Path) -> None:
    from orchestration.definitions import build_definitions

    defs = build_definitions(load_settings(config))
    job = defs.get_job_def("lake_maintenance")
    assert defs.get_schedule_def("lake_maintenance_schedule").cron_schedule == "30 4 * * *"
    # Upkeep holds each writer's pool: it never runs beside the asset that writes the table.
    upkeep_pools = {node.definition.pool for node in job.graph.node_dict.values()}
    graph = defs.resolve_asset_graph()
    writer_pools = {p for k in graph.get_all_asset_keys() if graph.get(k).is_materializable for p in graph.get(k).pools}
    assert writer_pools and writer_pools <= upkeep_pools
