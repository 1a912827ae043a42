"""What counts as personal data in quality output, and the pseudonym that replaces a patient identifier."""

from __future__ import annotations

import hashlib
import os

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

SALT_ENV = "RADLAKE_PSEUDONYM_SALT"


def pseudonym(value: str | None) -> str | None:
    """The pseudonymous key of an identifier: the first 16 hex digits of SHA-256 over the site salt and it.

    The same function as the dbt macro ``pseudonym`` (dbt_project/macros/pseudonym.sql), so quality output and
    the gold marts name a record by the same key.
    """
    if value is None:
        return None
    salt = os.environ.get(SALT_ENV, "")
    return hashlib.sha256((salt + value).encode("utf-8")).hexdigest()[:16]
