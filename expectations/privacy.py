"""What counts as personal data in quality output, and the pseudonym that replaces a patient identifier."""

from __future__ import annotations

from radlake.pseudonym import pseudonym as radlake_pseudonym

PERSONAL_COLUMNS = frozenset(
    {
        "patient_id",
        "mrn",
        "record_id",
        "patient_name",
        "name",
        "patient_birth_date",
        "birth_date",
        "id_number",
        "phone",
        "address",
        "header_json",
    }
)
"""Columns never written into quality reports (failing-row samples drop them)."""


def pseudonym(value: str | None) -> str | None:
    """The keyed pseudonym of an identifier (:func:`radlake.pseudonym.pseudonym`: HMAC-SHA256 under
    ``RADLAKE_PSEUDONYM_KEY``), the same as the SQL function ``radlake_pseudonym`` the marts use."""
    return radlake_pseudonym(value)
