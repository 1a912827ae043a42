"""transforms.deid: keyed UIDs, and the attribute rules checked against the Basic Profile's own attribute list
(PS3.15 Table E.1-1 as dicom-anonymizer ships it) and between the JSON and the dataset forms."""

from __future__ import annotations

import re

from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from radlake.pseudonym import keyed_pseudonym
from transforms.deid import deidentify_dataset, deidentify_json, pseudo_uid

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
SAMPLE = {"DA": "20200101", "TM": "101010", "DT": "20200101101010", "UI": "1.2.3.4", "PN": "Doe^John",
          "LO": "lo text", "SH": "sh text", "CS": "XCS", "LT": "lt", "ST": "st", "UT": "ut", "AS": "040Y",
          "DS": "1.5", "IS": "3", "US": 1, "UL": 1, "SL": 1, "SS": 1, "FL": 1.0, "FD": 1.0, "AE": "AET",
          "UR": "http://x.example", "UC": "uc", "OB": b"\x01\x02", "OW": b"\x01\x02"}  # fmt: skip
# Kept by the two options radlake applies (PS3.15 E.3.6 Retain Longitudinal Full Dates, E.3.4 Retain Patient
# Characteristics); everything else of the profile must go or change.
PATIENT_CHARACTERISTICS = {0x00100040, 0x00101010, 0x00101020, 0x00101030, 0x001021A0, 0x001021C0, 0x001021D0,
                           0x00102203}  # fmt: skip


def test_pseudo_uid_is_a_keyed_valid_uid() -> None:
    uid = "1.2.826.0.1.3680043.8.498.11844041183514618260594819519720943670"
    out = pseudo_uid(KEY, uid)
    assert UID.fullmatch(out) and len(out) <= 64 and out.startswith("2.25.")
    assert out == pseudo_uid(KEY, uid) and out != pseudo_uid(OTHER_KEY, uid) and out != pseudo_uid(KEY, uid + "1")


def _profile_dataset() -> Dataset:
    ds = Dataset()
    for tag in dicom_anonymization_database_selector("dicomfields_2026c")["ALL_TAGS"]:
        if len(tag) != 2:
            continue
        number = (tag[0] << 16) | tag[1]
        try:
            vr = dictionary_VR(number)
        except KeyError:
            continue
        if vr in SAMPLE:
            ds.add_new(number, vr, SAMPLE[vr])
    return ds


def test_every_basic_profile_attribute_goes_or_changes_unless_an_option_keeps_it() -> None:
    ds = _profile_dataset()
    assert len(ds) > 400
    out = deidentify_dataset(ds, KEY)
    kept = [
        e.tag
        for e in ds
        if e.tag in out and out[e.tag].value == e.value and e.value not in ("", None)
        and not (e.VR in ("DA", "TM", "DT") or int(e.tag) in PATIENT_CHARACTERISTICS)
    ]  # fmt: skip
    assert kept == [], f"kept as they were: {kept}"
    assert "PatientBirthDate" not in out and out.PatientName == "" and out.PatientIdentityRemoved == "YES"
    assert out.PatientID == keyed_pseudonym(KEY, str(ds.PatientID))


def test_json_and_dataset_forms_agree() -> None:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Zhang^Wei", "M1", "19700101", "M"
    ds.StudyInstanceUID, ds.SOPClassUID, ds.StudyDate = "1.2.3", "1.2.840.10008.5.1.4.1.1.2", "20261101"
    ds.InstitutionName, ds.Modality, ds.SliceThickness = "First People's Hospital", "CT", "1.25"
    item = Dataset()
    item.ScheduledProcedureStepID, item.StudyInstanceUID = "SPS1", "1.2.3"
    ds.RequestAttributesSequence = [item]
    ds.add_new(0x00291010, "OB", b"\x00" * 4)  # private
    from_json = deidentify_json(ds.to_json_dict(), KEY)
    from_dataset = deidentify_dataset(ds, KEY).to_json_dict()
    assert from_json == from_dataset
    assert from_json["0020000D"]["Value"] == [pseudo_uid(KEY, "1.2.3")]
    assert from_json["00080016"]["Value"] == ["1.2.840.10008.5.1.4.1.1.2"]  # the standard's UIDs stay
    assert from_json["00400275"]["Value"][0]["0020000D"]["Value"] == [pseudo_uid(KEY, "1.2.3")]
    assert "00400009" not in from_json["00400275"]["Value"][0]
    assert {"00080080", "00100030", "00291010"}.isdisjoint(from_json)
    assert from_json["00080020"]["Value"] == ["20261101"] and from_json["00180050"]["Value"] == [1.25]
