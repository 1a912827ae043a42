"""What the HL7 silver tables feed: silver/exams on an HL7-only lake (the Spark job), and ADT^A40 merges as
steward-grade link decisions that a steward's own decision overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings
from transforms.empi.job import with_hl7_links
from transforms.empi.review import latest_decisions
from transforms.exams.job import build_exams_table


def test_exams_job_builds_from_hl7_orders_alone(spark, tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    spec = catalog.table("silver", "hl7_orders")
    row = dict.fromkeys(spec.schema.names)
    row.update(
        institution="h03",
        accession_number="H03A1",
        raw_exam_name="CT头颅平扫",
        status="completed",
        ordered_at=datetime(2026, 11, 3, 1, tzinfo=UTC),
        messages=2,
    )
    lake.replace(settings, catalog.table_uri(settings, spec), pa.Table.from_pylist([row], schema=spec.schema))
    assert build_exams_table(spark, settings) == 1
    exams = lake.read_arrow(settings, catalog.uri(settings, "silver", "exams")).to_pylist()
    assert [(e["institution"], e["accession_number"], str(e["exam_date"])) for e in exams] == [
        ("h03", "H03A1", "2026-11-03")
    ]


def test_a40_merges_are_links_a_steward_can_overrule() -> None:
    links = pd.DataFrame(
        {
            "record_id_a": ["h03:M1", "h03:M5"],
            "record_id_b": ["h03:M2", "h03:M6"],
            "sending_facility": ["H03RIS", "H03RIS"],
            "control_id": ["C1", "C2"],
        }
    )
    steward = pd.DataFrame(
        {
            "record_id_a": ["h03:M6"],
            "record_id_b": ["h03:M5"],
            "decision": ["never_link"],
            "decided_by": ["wang"],
            "decided_at": [pd.Timestamp("2026-11-05", tz="UTC")],
            "note": ["two people"],
        }
    )
    in_force = latest_decisions(with_hl7_links(steward, links)).set_index(["record_id_a", "record_id_b"])
    assert in_force.loc[("h03:M1", "h03:M2"), "decision"] == "link"
    assert in_force.loc[("h03:M1", "h03:M2"), "decided_by"] == "hl7:H03RIS"
    assert in_force.loc[("h03:M5", "h03:M6"), "decision"] == "never_link"
    assert with_hl7_links(steward, None) is steward
