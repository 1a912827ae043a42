"""bronze/pacs_pull_state: each study of each PACS and how far its pull got (what makes a pull resumable)."""

from __future__ import annotations

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake

STATE = catalog.table("bronze", "pacs_pull_state")


def load_states(settings: Settings, peer: str) -> dict[str, dict]:
    """Study Instance UID → its state row, for one peer (``dicom://AE@HOST:PORT``)."""
    data = Lake(settings).table(STATE).read_arrow()
    if data is None:
        return {}
    return {r["study_instance_uid"]: r for r in data.to_pylist() if r["peer"] == peer}


def save_states(settings: Settings, rows: list[dict]) -> int:
    """Upsert state rows by (peer, study); returns the rows written."""
    if not rows:
        return 0
    return Lake(settings).table(STATE).upsert(rows)
