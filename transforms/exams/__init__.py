"""silver/exams: RIS orders joined with their exam record, report, DICOM study, codes and empi_id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.exams.job import RIS_TABLES, build_exams_table

__all__ = [
    "RIS_TABLES",
    "build_exams_table",
]

__getattr__ = lazy_face(
    __name__,
    {
        "RIS_TABLES": "job",
        "build_exams_table": "job",
    },
)
