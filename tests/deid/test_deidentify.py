"""De-identification of an edge corpus: private tags, names in sequences, references across series, multi-frame."""

from __future__ import annotations

import io

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from transforms.deid import DeidPolicy, deidentify, project_key
from transforms.export import export_instance

CT = "1.2.840.10008.5.1.4.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"
NAME, PID, PHONE, ID_CARD = "张三丰", "MRN0042", "13812345678", "110101199003071234"
OPTIONS = frozenset({"retain_long_modified_dates", "retain_patient_characteristics", "clean_descriptors"})


def _instance(study: str, series: str, sop: str, *, sop_class: str = CT, frames: int = 1) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.FrameOfReferenceUID = study[:60] + ".9"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = NAME, PID, "19610203", "M"
    ds.StudyDate, ds.SeriesDate, ds.StudyTime = "20261201", "20261201", "101500"
    ds.AccessionNumber, ds.Modality = "ACC777", "CT" if sop_class == CT else "OT"
    ds.InstitutionName = "第一医院"
    ds.StudyDescription = f"CT胸部 患者{NAME} 电话{PHONE}"
    ds.OtherPatientIDsSequence = Sequence([Dataset()])
    ds.OtherPatientIDsSequence[0].PatientID = ID_CARD
    ds.RequestAttributesSequence = Sequence([Dataset()])
    ds.RequestAttributesSequence[0].RequestedProcedureDescription = f"for {NAME}"
    ds.RequestAttributesSequence[0].ScheduledProcedureStepID = PID
    # A private block naming the patient, and one safe element of another creator.
    block = ds.private_block(0x0011, "HOSPITAL_X", create=True)
    block.add_new(0x01, "LO", f"{NAME} {ID_CARD}")
    safe = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    safe.add_new(0x10, "DS", "1.5")
    safe.add_new(0x11, "LO", PID)
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.PixelData = bytes(range(32)) * frames
    return ds


def _values(ds: Dataset) -> list[str]:
    out = []
    for elem in ds.iterall():
        if elem.VR != "SQ":
            out.append(str(elem.value))
    out += [str(e.value) for e in ds.file_meta]
    return out


def test_nothing_identifying_survives_and_references_hold() -> None:
    key = project_key(b"k" * 32, "proj")
    study, series_a, series_b = generate_uid(), generate_uid(), generate_uid()
    first, second = generate_uid(), generate_uid()
    source = _instance(study, series_a, first)
    derived = _instance(study, series_b, second, frames=3)
    derived.ReferencedImageSequence = Sequence([Dataset()])
    derived.ReferencedImageSequence[0].ReferencedSOPClassUID = CT
    derived.ReferencedImageSequence[0].ReferencedSOPInstanceUID = first
    policy = DeidPolicy(key=key, options=OPTIONS, safe_private=frozenset({(0x0019, "GEMS_ACQU_01", 0x10)}))
    deidentify(source, policy, "empi-1")
    deidentify(derived, policy, "empi-1")

    for ds in (source, derived):
        text = " ".join(_values(ds))
        for secret in (NAME, PID, PHONE, ID_CARD, "ACC777", study, series_a, series_b, first, second, "20261201"):
            assert secret not in text, secret
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.PatientSex == "M"  # retain patient characteristics
    # The reference points at the new UID of the instance it pointed at; one study, one frame of reference.
    assert derived.ReferencedImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert derived.StudyInstanceUID == source.StudyInstanceUID != study
    assert derived.FrameOfReferenceUID == source.FrameOfReferenceUID
    # Dates moved by one offset for the patient: the birth date is emptied (Z), the study date shifted.
    assert source.StudyDate == derived.StudyDate != "20261201" and source.PatientBirthDate == ""
    # Private: only the safe element (and its creator) is left.
    assert [(e.tag.group, e.tag.element) for e in source if e.tag.is_private] == [(0x0019, 0x0010), (0x0019, 0x1010)]
    # Multi-frame pixel data is untouched.
    assert derived.PixelData == bytes(range(32)) * 3


def test_keys_are_stable_per_project_and_differ_between_projects() -> None:
    uid = generate_uid()
    runs = []
    for project in ("a", "a", "b"):
        ds = _instance(uid, uid + ".1", uid + ".2")
        deidentify(ds, DeidPolicy(key=project_key(b"k" * 32, project), options=OPTIONS), "empi-1")
        runs.append((ds.StudyInstanceUID, ds.PatientID, ds.StudyDate))
    assert runs[0] == runs[1]
    assert all(a != b for a, b in zip(runs[0], runs[2], strict=True))


def _bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_burned_in_and_changed_files_are_not_exported() -> None:
    policy = DeidPolicy(key=b"k" * 32, options=OPTIONS)
    capture = _instance(generate_uid(), generate_uid(), generate_uid(), sop_class=SC)
    out = export_instance(_bytes(capture), None, policy, "p", allow_burned_in=False)
    assert out.outcome == "quarantined" and "burned-in" in out.reason
    flagged = _instance(generate_uid(), generate_uid(), generate_uid())
    flagged.BurnedInAnnotation = "YES"
    assert export_instance(_bytes(flagged), None, policy, "p", allow_burned_in=False).outcome == "quarantined"
    assert export_instance(_bytes(flagged), None, policy, "p", allow_burned_in=True).outcome == "exported"
    ok = _bytes(_instance(generate_uid(), generate_uid(), generate_uid()))
    changed = export_instance(ok, "0" * 64, policy, "p", allow_burned_in=False)
    assert changed.outcome == "failed" and "checksum" in changed.reason
    exported = export_instance(ok, None, policy, "p", allow_burned_in=False)
    assert exported.outcome == "exported"
    assert pydicom.dcmread(io.BytesIO(exported.data or b"")).PatientIdentityRemoved == "YES"


def test_cohort_rules_are_refused_with_one_line(tmp_path) -> None:
    import pytest

    from radlake.config import Settings
    from radlake.errors import ConfigError
    from transforms.cohorts import load_cohort

    settings = Settings(lake=str(tmp_path / "lake"), cohorts_dir=tmp_path, spaces={"research": {}})
    cases = {
        "bad-code": ("filters: {exam_code_prefixes: ['20A3']}", "filters.exam_code_prefixes"),
        "bad-option": ("export: {options: [retain_everything]}", "unknown option 'retain_everything'"),
        "bad-private": ("export: {safe_private: ['0018,X,10']}", "odd group"),
        "bad-space": ("space: nowhere", "space 'nowhere'"),
        "bad-ages": ("filters: {age_min: 70, age_max: 60}", "age_max is below age_min"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=expected.replace("(", r"\(")) as err:
            load_cohort(settings, name)
        assert str(tmp_path / f"{name}.yaml") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="no such cohort rule"):
        load_cohort(settings, "absent")
    with pytest.raises(ConfigError, match="a cohort name"):
        load_cohort(settings, "../etc/passwd")


def test_fast_writer_equals_pydicom_writer() -> None:
    """The export's writer copies raw values; its file equals pydicom's own, byte for byte."""
    from transforms.export.encode import encode

    policy = DeidPolicy(key=b"k" * 32, options=OPTIONS)
    for frames in (1, 3):
        data = _bytes(_instance(generate_uid(), generate_uid(), generate_uid(), frames=frames))
        ours = pydicom.dcmread(io.BytesIO(data))
        deidentify(ours, policy, "p")
        theirs = pydicom.dcmread(io.BytesIO(data))
        deidentify(theirs, policy, "p")
        assert encode(ours) == _bytes(theirs)
