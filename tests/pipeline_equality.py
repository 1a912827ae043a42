"""Two whole-pipeline runs of the same simulation hold the same lake tables and marts (bench/compare_runs.py
and the engine lanes' tests compare with this)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# Values that say when or where a row was made, not what it holds: they differ between any two runs (an EMPI
# event's id is stamped with its run's time). In bronze: when the simulator wrote a DICOM file (file_mtime), when
# the HL7 listener received a message (received_at), when the simulated RIS committed a change (_commit_time).
VOLATILE = {
    "first_seen_at", "ingested_at", "last_ingested_at", "mapped_at", "decided_at", "built_at", "run_at",
    "event_id", "occurred_at", "linked_at", "file_mtime", "received_at", "_commit_time",
}  # fmt: skip
# Run times under a name that elsewhere holds source data (a RIS row's updated_at is compared); an HL7 order's
# updated_at is when the listener received its last message (the demo replays the feed at run time), and so is
# an HL7 patient record's.
VOLATILE_IN = {
    "silver/patient_golden": {"updated_at"},
    "silver/hl7_orders": {"updated_at"},
    "silver/hl7_patients": {"updated_at"},
}
# Files pulled by C-GET are stored under <state_dir>/pacs/<AE>-<port>/ (ingestion/pacs/pull.py): the demo's
# simulated PACS listens on a free port chosen at run time, so the port in such a path is a run-time value.
PULLED_FOLDER = re.compile(r"(/pacs/[^/]+)-\d+/")


def normalised_rows(table: Any, workdir: Path, key: str = "") -> list[tuple]:
    """The rows of an Arrow table as sorted tuples of text, without the volatile columns of table ``key``
    (``layer/name``), with ``workdir`` (the run's folder) in any value replaced by ``<workdir>`` and the port of a
    C-GET storage folder by ``<port>``."""
    keep = [c for c in table.column_names if c not in VOLATILE | VOLATILE_IN.get(key, set())]
    columns = [table[c].to_pylist() for c in keep]
    prefix = str(workdir.resolve())
    return sorted(
        tuple(
            "<null>" if v is None else PULLED_FOLDER.sub(r"\1-<port>/", str(v).replace(prefix, "<workdir>"))
            for v in row
        )
        for row in zip(*columns, strict=True)
    )


def assert_same_pipeline(first_dir: Path, first: Any, second_dir: Path, second: Any) -> None:
    """Every silver table and every table of both warehouse files of two demo runs (``DemoSummary``) agree, row
    for row (paths below each run's folder and run-time stamps aside)."""
    from radlake import lake, warehouse
    from radlake.config import load_settings

    a, b = load_settings(first.config), load_settings(second.config)
    silver = sorted(k for k in first.tables if k.startswith("silver/"))
    assert silver and sorted(k for k in second.tables if k.startswith("silver/")) == silver
    for key in silver:
        left, right = lake.read_arrow(a, f"{a.lake}/{key}"), lake.read_arrow(b, f"{b.lake}/{key}")
        assert left is not None and right is not None and left.num_rows == right.num_rows, key
        assert normalised_rows(left, first_dir, key) == normalised_rows(right, second_dir, key), key
    assert second.marts == first.marts
    for stewards in (False, True):
        with warehouse.connect(a, stewards=stewards) as con_a, warehouse.connect(b, stewards=stewards) as con_b:
            names = [r[0] for r in con_a.execute("select table_name from information_schema.tables").fetchall()]
            assert names
            for name in names:
                left = con_a.execute(f'select * from "{name}"').fetch_arrow_table()
                right = con_b.execute(f'select * from "{name}"').fetch_arrow_table()
                assert normalised_rows(left, first_dir) == normalised_rows(right, second_dir), name
