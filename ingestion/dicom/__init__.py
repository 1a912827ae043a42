"""DICOM ingestion: folders and C-STORE → bronze/dicom_files and bronze/dicom_instances (see ``api``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from ingestion.dicom.api import IngestProgress, ingest_dicom, listen
    from ingestion.dicom.charset import GB18030_TERM, UTF8_TERM, character_set, decode_text
    from ingestion.dicom.discover import PARTIAL_SUFFIX
    from ingestion.dicom.distributed import backfill_dicom
    from ingestion.dicom.folders import land_unlanded
    from ingestion.dicom.landing import ensure_tables, ingest_lock, landed_among

__all__ = [
    "GB18030_TERM",
    "PARTIAL_SUFFIX",
    "UTF8_TERM",
    "IngestProgress",
    "backfill_dicom",
    "character_set",
    "decode_text",
    "ensure_tables",
    "ingest_dicom",
    "ingest_lock",
    "land_unlanded",
    "landed_among",
    "listen",
]

__getattr__ = lazy_face(
    __name__,
    {
        "GB18030_TERM": "charset",
        "IngestProgress": "api",
        "PARTIAL_SUFFIX": "discover",
        "UTF8_TERM": "charset",
        "backfill_dicom": "distributed",
        "character_set": "charset",
        "decode_text": "charset",
        "ensure_tables": "landing",
        "ingest_dicom": "api",
        "ingest_lock": "landing",
        "land_unlanded": "folders",
        "landed_among": "landing",
        "listen": "api",
    },
)
