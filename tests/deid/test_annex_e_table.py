"""radlake's Table E.1-1 against dicom-anonymizer's independent transcription, attribute by attribute."""

from __future__ import annotations

from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

from transforms.deid._annex_e import ATTRIBUTES, EDITION
from transforms.deid.profile import action_for

CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


def _theirs(edition: str) -> dict[int, str]:
    db = dicom_anonymization_database_selector(edition)
    out = {}
    for category, code in CATEGORIES.items():
        for tag in db[category]:
            if len(tag) == 2:  # (group, element); the four-tuples are the repeating groups (masks)
                out[(tag[0] << 16) | tag[1]] = code
    return out


def test_same_edition_agrees_on_every_attribute() -> None:
    theirs = _theirs(f"dicomfields_{EDITION}")
    ours = {tag: row[1] for tag, row in ATTRIBUTES.items()}
    assert len(ours) > 600
    assert set(ours) == set(theirs)
    assert {t: (ours[t], theirs[t]) for t in ours if ours[t] != theirs[t]} == {}


def test_newer_edition_only_adds_attributes() -> None:
    """2026c lists attributes 2024b did not have; every attribute both list has the same action."""
    theirs = _theirs("dicomfields_2026c")
    ours = {tag: row[1] for tag, row in ATTRIBUTES.items()}
    assert set(ours) <= set(theirs)
    assert {t: (ours[t], theirs[t]) for t in ours if ours[t] != theirs[t]} == {}
    # Not yet in radlake's table: each is kept by the export as an unlisted attribute would be.
    assert 0 < len(set(theirs) - set(ours)) < 60


def test_options_override_the_basic_profile() -> None:
    study_date, sex, series_description, sop_instance = 0x00080020, 0x00100040, 0x0008103E, 0x00080018
    assert action_for(study_date, frozenset()) == "Z"
    assert action_for(study_date, frozenset({"retain_long_modified_dates"})) == "C"
    assert action_for(sex, frozenset({"retain_patient_characteristics"})) == "K"
    assert action_for(series_description, frozenset()) == "X"
    assert action_for(series_description, frozenset({"clean_descriptors"})) == "C"
    assert action_for(sop_instance, frozenset({"retain_device_identity"})) == "U"
    assert action_for(0x60023000, frozenset()) == "X"  # overlay data of any 60xx group
    assert action_for(0x00280010, frozenset()) is None  # Rows: not in the table, kept
