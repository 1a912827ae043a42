"""The ``route_cohort`` Dagster job (the UI's launch form) sends a cohort to a real DCMTK storescp."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from routing_harness import CT, StoreSCP, free_port, sop_uid_of, write_instances

from ingestion.dicom.api import ingest_dicom
from radlake import catalog, lake
from radlake.config import load_settings, write_settings

pytestmark = pytest.mark.slow


def test_route_cohort_job_sends_the_cohort(tmp_path: Path) -> None:
    import pydicom

    from orchestration.resources import RadlakeResource
    from orchestration.routing import route_cohort_job

    cfg = write_settings({"lake": str(tmp_path / "lake")}, tmp_path / "radlake.yaml")
    settings = load_settings(cfg)
    ct = write_instances(tmp_path / "in" / "a", 6, CT, seed=12)
    write_instances(tmp_path / "in" / "b", 3, CT, seed=13)  # another study, not in the cohort
    ingest_dicom(settings, [tmp_path / "in"])
    spec = catalog.table("silver", "cohort_members")
    study = str(pydicom.dcmread(ct[0]).StudyInstanceUID)
    members = pa.Table.from_pylist([{"cohort": "proj", "study_instance_uid": study}], schema=spec.schema)
    lake.append_idempotent(settings, catalog.table_uri(settings, spec), members, app_id="test", txn_version=1)
    peer = StoreSCP(tmp_path / "peer", "AINODE", free_port()).start()
    try:
        result = route_cohort_job.execute_in_process(
            run_config={"ops": {"route_cohort_op": {"config": {"cohort": "proj", "to": peer.url}}}},
            resources={"radlake": RadlakeResource(config_path=str(cfg))},
        )
        assert result.success
        counts = peer.counts()
    finally:
        peer.stop()
    assert set(counts) == {sop_uid_of(p) for p in ct} and max(counts.values()) == 1
    # The queue's metrics on its Dagster asset: observed from the lake, counted here from the peer.
    from dagster._core.definitions.observe import observe  # dagster 1.13 keeps it private; the UI's "Observe"

    from orchestration.routing import routing_queue

    observed = observe([routing_queue], resources={"radlake": RadlakeResource(config_path=str(cfg))})
    (obs,) = observed.asset_observations_for_node("audit__routing_queue")
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert (meta["sent"], meta["waiting"], meta["dead_letter"]) == (len(counts), 0, 0)
    assert meta["by_destination"][peer.url]["sent"] == len(counts)
