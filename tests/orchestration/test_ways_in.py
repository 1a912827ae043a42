"""The HL7 and PACS ways in, wired into Dagster only when configured: the pull on its own schedule (not the
nightly run), the HL7 orders upstream of silver/exams and the exam-name map, the ADT^A40 links and the
ADT^A01/A04/A08 records upstream of the EMPI."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import build_definitions
from radlake.config import Settings


def _repo(**config: object):
    return build_definitions(Settings(lake="/tmp/radlake-ways-in/lake", **config)).get_repository_def()


def test_nothing_new_without_config() -> None:
    repo = _repo()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert not {k for k in keys if "hl7" in k or "pacs" in k}
    assert "pacs_pull_schedule" not in {s.name for s in repo.schedule_defs}


def test_configured_ways_in_are_wired() -> None:
    repo = _repo(
        pacs={"peers": {"main": {"peer": "dicom://PACS@127.0.0.1:104"}}, "pull_cron": "0 21 * * *"},
        hl7={"allowed_facilities": {"H03RIS": "h03"}},
    )
    pull = repo.get_schedule_def("pacs_pull_schedule")
    assert pull.cron_schedule == "0 21 * * *"
    nightly = {k.to_user_string() for k in repo.get_job("nightly").asset_layer.selected_asset_keys}
    assert "bronze/pacs_pull_state" not in nightly and "silver/hl7_orders" in nightly
    graph = repo.asset_graph
    assert dg.AssetKey(["silver", "hl7_orders"]) in graph.get(dg.AssetKey(["silver", "exams"])).parent_keys
    empi_inputs = graph.get(dg.AssetKey(["silver", "patient_master"])).parent_keys
    assert {dg.AssetKey(["silver", "hl7_patient_links"]), dg.AssetKey(["silver", "hl7_patients"])} <= empi_inputs
    assert dg.AssetKey(["silver", "hl7_orders"]) in graph.get(dg.AssetKey(["silver", "exam_name_map"])).parent_keys
