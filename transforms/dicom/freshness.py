"""Whether the silver DICOM roll-ups are behind the instances landed in bronze."""

from __future__ import annotations

from radlake import catalog, lake
from radlake.config import Settings


def rollups_behind(settings: Settings) -> bool:
    """Whether the silver roll-ups miss instances an earlier run landed (it crashed before rebuilding them)."""
    landed = lake.last_commit_ms(settings, catalog.uri(settings, "bronze", "dicom_instances"))
    built = lake.last_commit_ms(settings, catalog.uri(settings, "silver", "dicom_studies"))
    return landed is not None and (built is None or built < landed)
