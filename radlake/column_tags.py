"""The personal-data tags of the lake's columns, and which audience may see a column of each tag.

One set of tags, by column name (a name means the same in every table, the CDC tables' source columns
included): the Dagster previews and asset metadata (:mod:`orchestration.metadata`), the quality reports'
failing-row samples (:mod:`expectations.privacy`), the split of the gold warehouse into the analysts' and the
stewards' files (:func:`radlake.publish.publish_build` refuses a build that breaks it) and the
``dagster/column_schema`` of every lake asset read them here. A test checks each consumer against
:func:`hidden_from`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Tag = Literal["personal", "record_key", "identifier"]
Audience = Literal["ui", "quality_report", "analysts", "stewards"]

PERSONAL: Tag = "personal"
"""Identifies a person directly, or is free text or a header that may: names, birth dates, ID numbers, phones,
addresses, the RIS's patient ids and MRNs, DICOM headers, HL7 messages. Never leaves the lake."""

RECORD_KEY: Tag = "record_key"
"""The key of one patient record, built from its MRN (``<institution>:<mrn>``): the stewards' work lists name
records by it; nobody else sees it."""

IDENTIFIER: Tag = "identifier"
"""Names one exam, study, image, order or person without saying who it is (accession numbers, DICOM UIDs,
empi ids, file paths): stewards and the quality reports (stewards read them to find a failing row) see it; the
analysts see keyed pseudonyms instead; the UI never."""

COLUMN_TAGS: Mapping[str, Tag] = {
    # Personal: who the patient is, or text that may say it.
    **dict.fromkeys(
        (
            "patient_id", "mrn", "patient_name", "name", "name_a", "name_b", "patient_birth_date", "birth_date",
            "birth_date_a", "birth_date_b", "id_number", "phone", "phones", "address", "referring_physician_name",
            "header_json", "study_json", "series_json", "message_text", "payload_json", "params", "path", "statement",
        ),
        PERSONAL,
    ),
    # Record keys: <institution>:<mrn>, or lists and pairs of them.
    **dict.fromkeys(
        ("record_id", "record_id_a", "record_id_b", "record_ids", "source_records", "surviving_record_id",
         "patient_key"),
        RECORD_KEY,
    ),
    # Identifiers: link keys that name no one.
    **dict.fromkeys(
        (
            "accession_number", "order_id", "empi_id", "empi_id_a", "empi_id_b", "other_empi_ids",
            "candidate_empi_ids", "study_instance_uid", "series_instance_uid", "sop_instance_uid",
            "new_study_instance_uid", "new_series_instance_uid", "new_sop_instance_uid", "result_id",
            "file_path", "relative_path",
        ),
        IDENTIFIER,
    ),
}  # fmt: skip
"""Tag of each column name that carries one; a name absent here is no personal data."""

_MAY_SEE: Mapping[Audience, frozenset[Tag]] = {
    "ui": frozenset(),  # every Dagster UI user: previews and asset metadata
    "quality_report": frozenset({IDENTIFIER}),  # failing-row samples in the quality reports
    "analysts": frozenset(),  # the analysts' warehouse file (pseudonyms only)
    "stewards": frozenset({IDENTIFIER, RECORD_KEY}),  # the stewards' warehouse file (work lists)
}


def tag(column: str) -> Tag | None:
    """The tag of a column name (case-insensitive), or None."""
    return COLUMN_TAGS.get(column.lower())


def hidden_from(audience: Audience) -> frozenset[str]:
    """The column names an audience never sees (every tagged name whose tag it may not see)."""
    return frozenset(name for name, t in COLUMN_TAGS.items() if t not in _MAY_SEE[audience])


def visible_to(audience: Audience, columns: list[str]) -> list[str]:
    """``columns`` without those :func:`hidden_from` the audience (case-insensitive), in their order."""
    hidden = hidden_from(audience)
    return [c for c in columns if c.lower() not in hidden]
