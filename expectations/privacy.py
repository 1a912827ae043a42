"""What counts as personal data in quality output, and the pseudonym that replaces a patient identifier."""

from __future__ import annotations

from radlake import column_tags
from radlake.pseudonym import pseudonym as radlake_pseudonym

PERSONAL_COLUMNS = column_tags.hidden_from("quality_report")
"""Columns never written into quality reports (failing-row samples drop them): those the catalog's column tags
mark personal or a record key (:mod:`radlake.column_tags`)."""


def pseudonym(value: str | None) -> str | None:
    """The keyed pseudonym of an identifier (:func:`radlake.pseudonym.pseudonym`: HMAC-SHA256 under
    ``RADLAKE_PSEUDONYM_KEY``), the same as the SQL function ``radlake_pseudonym`` the marts use."""
    return radlake_pseudonym(value)
