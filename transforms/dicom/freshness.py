"""Whether the silver DICOM roll-ups are behind the instances landed in bronze."""

from __future__ import annotations

from radlake.config import Settings
from radlake.lake import Lake


def rollups_behind(settings: Settings) -> bool:
    """Whether the silver roll-ups miss instances an earlier run landed (it crashed before rebuilding them)."""
    tables = Lake(settings)
    landed = tables.table("bronze", "dicom_instances").last_commit_ms()
    built = tables.table("silver", "dicom_studies").last_commit_ms()
    return landed is not None and (built is None or built < landed)
