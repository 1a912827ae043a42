"""bronze/pacs_pull_state: each study of each PACS and how far its pull got (what makes a pull resumable)."""

from __future__ import annotations

import pyarrow as pa

from radlake import catalog, lake
from radlake.config import Settings

STATE = catalog.table("bronze", "pacs_pull_state")


def state_uri(settings: Settings) -> str:
    """Where bronze/pacs_pull_state lives."""
    return catalog.table_uri(settings, STATE)


def load_states(settings: Settings, peer: str) -> dict[str, dict]:
    """Study Instance UID → its state row, for one peer (``dicom://AE@HOST:PORT``)."""
    data = lake.read_arrow(settings, state_uri(settings))
    if data is None:
        return {}
    return {r["study_instance_uid"]: r for r in data.to_pylist() if r["peer"] == peer}


def save_states(settings: Settings, rows: list[dict]) -> int:
    """Upsert state rows by (peer, study); returns the rows written."""
    if not rows:
        return 0
    assert STATE.schema is not None
    table = pa.Table.from_pylist(rows, schema=STATE.schema)
    return lake.upsert(settings, state_uri(settings), catalog.conform(STATE, table), STATE.keys)
