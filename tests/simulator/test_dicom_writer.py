"""The DICOM files: linked to the orders, a proper hierarchy, Chinese names per charset, and the mess."""

from __future__ import annotations

from collections import Counter

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from simulator.people import pinyin_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def files(small):
    return small.truth("files")


@pytest.fixture(scope="module")
def orders(small):
    """Orders of every institution joined with their patients, by accession number."""
    frames = []
    for inst in small.summary.institutions:
        o = small.table(inst, "exam_orders")
        p = small.table(inst, "patients")[["patient_id", "mrn", "name"]]
        frames.append(o.merge(p, on="patient_id").assign(institution=inst))
    import pandas as pd

    return pd.concat(frames).set_index("accession_number")


def _instances(files):
    return files[files["kind"] == "instance"]


def test_every_study_links_to_an_order_by_accession_and_patient(small, files, orders):
    inst_files = _instances(files)
    for row in inst_files.itertuples():
        ds = pydicom.dcmread(small.out / row.path, stop_before_pixels=True)
        assert ds.AccessionNumber == row.accession_number
        assert ds.SOPInstanceUID == row.sop_instance_uid
        assert ds.SeriesInstanceUID == row.series_instance_uid
        assert ds.StudyInstanceUID == row.study_instance_uid
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.Modality == row.modality
        if row.orphan == "true":
            assert row.accession_number not in orders.index
            continue
        order = orders.loc[row.accession_number]
        assert ds.PatientID == order["mrn"]
        assert ds.Modality == order["modality"]
        if row.charset:  # without a character set pydicom cannot know the text is GB18030
            # DICOM text does not keep the trailing spaces some raw names carry.
            assert ds.StudyDescription.strip() == order["raw_exam_name"].strip()
        assert order["status"] in ("in_progress", "completed")
    assert (inst_files["orphan"] == "true").sum() > 0


def test_hierarchy_and_uids(small, files):
    inst = _instances(files)
    assert inst["sop_instance_uid"].is_unique
    # A series belongs to one study, and its files sit in one folder.
    assert (inst.groupby("series_instance_uid")["study_instance_uid"].nunique() == 1).all()
    folders = inst.assign(folder=inst["path"].str.rsplit("/", n=1).str[0])
    assert (folders.groupby("series_instance_uid")["folder"].nunique() == 1).all()
    # Path: dicom/<inst>/<yyyymmdd>/<study>/<series>/<file>.
    parts = inst["path"].str.split("/")
    assert (parts.str.len() == 6).all()
    assert (parts.str[1] == inst["institution"]).all()
    assert parts.str[2].str.fullmatch(r"\d{8}").all()
    # Most files have no extension, some end in .dcm.
    dcm = inst["path"].str.endswith(".dcm").mean()
    assert 0 < dcm < 0.5


def test_series_match_the_modality(small, files):
    inst = _instances(files)
    seen_thin_chest = False
    for _study, group in inst.groupby("study_instance_uid"):
        heads = [pydicom.dcmread(small.out / p, stop_before_pixels=True) for p in group["path"]]
        modality = heads[0].Modality
        n_series = len({h.SeriesInstanceUID for h in heads})
        by_series = Counter(h.SeriesInstanceUID for h in heads)
        if modality == "CT":
            assert n_series == 2 and all(2 <= n <= 4 for n in by_series.values())
            thick = {float(h.SliceThickness) for h in heads if "SliceThickness" in h}
            if heads[0].BodyPartExamined == "CHEST" and "no_slice_thickness" not in group["defects"].iloc[0]:
                assert 5.0 in thick and thick & {1.0, 0.625}
                seen_thin_chest = True
        elif modality == "MR":
            assert n_series in (2, 3)
            assert all(3 <= float(h.SliceThickness) <= 6 for h in heads if "SliceThickness" in h)
        else:
            assert n_series == 1 and len(heads) in (1, 2)
        for h in heads:
            assert h.StudyDate == h.SeriesDate or "bad_study_date" in group["defects"].iloc[0]
            assert h.Rows == 8 and h.Columns == 8 and len(h.get("PixelData", b"")) == 0  # stopped before pixels
    assert seen_thin_chest


def test_chinese_names_decode_per_character_set(small, files, orders):
    inst = _instances(files)
    checked = Counter()
    for row in inst.drop_duplicates("study_instance_uid").itertuples():
        if row.orphan == "true":
            continue
        ds = pydicom.dcmread(small.out / row.path, stop_before_pixels=True)
        name = orders.loc[row.accession_number, "name"]
        if row.charset:
            assert ds.SpecificCharacterSet == row.charset
            written = str(ds.PatientName)
        else:
            # Chinese PACS that omit the character set still write GB18030 bytes.
            assert "SpecificCharacterSet" not in ds
            raw = ds["PatientName"].value.original_string
            assert raw != name.encode("utf-8")
            written = raw.decode("gb18030")
        expected = {
            "chinese": name,
            "pinyin": pinyin_name(name),
            "alphabetic_ideographic": f"{pinyin_name(name)}={name}",
        }[row.name_form]
        assert written == expected
        checked[(row.charset, row.name_form)] += 1
    assert checked[("GB18030", "chinese")] > 0
    assert checked[("ISO_IR 192", "chinese")] > 0
    assert checked[("", "chinese")] > 0
    assert sum(n for (cs, form), n in checked.items() if form == "pinyin") > 0


def test_corrupt_files_are_present_and_unreadable(small, files):
    corrupt = files[(files["corrupt"] == "true") & (files["kind"] != "duplicate")]
    assert len(corrupt) > 0
    assert set(corrupt["kind"]) <= {"truncated", "zero_byte", "text", "jpeg"}
    for row in corrupt.itertuples():
        path = small.out / row.path
        assert path.exists()
        if row.kind == "truncated":
            # pydicom reads what is there without complaint; the file has lost its identity.
            ds = pydicom.dcmread(path)
            assert "SOPInstanceUID" not in ds and "StudyInstanceUID" not in ds
            sibling = files[(files["series_instance_uid"] == row.series_instance_uid) & (files["kind"] == "instance")]
            assert path.stat().st_size < (small.out / sibling["path"].iloc[0]).stat().st_size
        else:
            with pytest.raises(InvalidDicomError):
                pydicom.dcmread(path)
    # About 0.2% of files at full size; at least one per institution here.
    assert set(corrupt["institution"]) == set(small.summary.institutions)


def test_duplicates_are_byte_identical_copies_in_another_folder(small, files):
    dups = files[files["kind"] == "duplicate"]
    assert len(dups) > 0
    for row in dups.itertuples():
        copy, original = small.out / row.path, small.out / row.duplicate_of
        assert copy.parent != original.parent
        assert copy.read_bytes() == original.read_bytes()


def test_headers_with_missing_or_broken_fields(small, files):
    inst = _instances(files)
    found = Counter()
    for row in inst[inst["defects"] != ""].itertuples():
        ds = pydicom.dcmread(small.out / row.path, stop_before_pixels=True)
        defects = row.defects.split("|")
        if "no_institution_name" in defects:
            assert "InstitutionName" not in ds
        if "no_kvp" in defects:
            assert "KVP" not in ds
        if "no_slice_thickness" in defects:
            assert "SliceThickness" not in ds
        if "bad_study_date" in defects:
            raw = ds["StudyDate"].value
            with pytest.raises(ValueError):
                from datetime import datetime

                datetime.strptime(str(raw), "%Y%m%d")
        found.update(defects)
    assert {"no_institution_name", "no_kvp", "no_slice_thickness", "bad_study_date", "charset_missing"} <= set(found)
    # The clean files carry the fields.
    clean = pydicom.dcmread(small.out / inst[inst["defects"] == ""].iloc[0]["path"], stop_before_pixels=True)
    assert clean.InstitutionName and clean.StationName and clean.Manufacturer and clean.ManufacturerModelName


def test_file_count_matches_the_truth(small, files):
    on_disk = sorted(str(p.relative_to(small.out)) for p in (small.out / "dicom").rglob("*") if p.is_file())
    assert on_disk == sorted(files["path"])
    assert small.summary.dicom_files == len(files)
