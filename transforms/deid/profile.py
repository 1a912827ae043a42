"""Which PS3.15 Annex E action applies to a tag, given the options a project selects."""

from __future__ import annotations

from typing import Literal

from transforms.deid._annex_e import ATTRIBUTES, EDITION, GROUP_MASKS

__all__ = ["EDITION", "OPTIONS", "OPTION_CODES", "Option", "action_for", "resolve"]

Option = Literal[
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "retain_patient_characteristics",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_uids",
    "clean_descriptors",
    "clean_graphics",
    "clean_structured_content",
    "retain_safe_private",
]
OPTIONS: tuple[str, ...] = Option.__args__  # type: ignore[attr-defined]

OPTION_CODES: dict[str, tuple[str, str]] = {
    # PS3.16 CID 7050 De-identification Method: (code value, code meaning), scheme DCM.
    "retain_long_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_long_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
}
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")

# A combined action of the table is decided per data set by the attribute's type in its IOD; without the
# IOD at hand, radlake takes the one that keeps any IOD valid: Z keeps a Type 2 attribute present, D gives a
# Type 1 one a value, and X/Z/U* keeps a reference sequence with its UIDs replaced (they are listed as U).
_COMBINED = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "K"}


def resolve(basic: str, option_actions: dict[str, str], options: frozenset[str]) -> str:
    """One action from a table row: a selected option's K wins over its C, and either over the Basic Profile."""
    chosen = {action for option, action in option_actions.items() if option in options}
    if "K" in chosen:
        return "K"
    if "C" in chosen:
        return "C"
    return _COMBINED.get(basic, basic)


def action_for(tag: int, options: frozenset[str]) -> str | None:
    """The action for a standard tag (K, C, X, Z, D or U), or None when Table E.1-1 does not list it (kept)."""
    row = ATTRIBUTES.get(tag)
    if row is None:
        for (mask, value), masked in GROUP_MASKS.items():
            if tag & mask == value:
                row = masked
                break
    if row is None:
        return None
    return resolve(row[1], row[2], options)
