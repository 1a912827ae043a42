"""silver/dicom_series and silver/dicom_studies: roll-ups of bronze/dicom_instances; and the DICOMweb index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.dicom.freshness import rollups_behind
    from transforms.dicom.job import build_dicom_rollups

ROLLUP_TABLES = (
    "dicom_series",
    "dicom_studies",
    "dicomweb_studies",
    "dicomweb_series",
    "dicomweb_instances",
    "dicom_frames",
)
"""The silver tables the roll-up job writes together (the Dagster multi-asset's keys)."""

__all__ = [
    "ROLLUP_TABLES",
    "build_dicom_rollups",
    "rollups_behind",
]

__getattr__ = lazy_face(
    __name__,
    {
        "build_dicom_rollups": "job",
        "rollups_behind": "freshness",
    },
)
