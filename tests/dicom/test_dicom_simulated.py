"""Ingest the simulator's PACS export and check every file against the simulator's truth (files.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from dicom_corpus import FILES, INSTANCES, rows

from ingestion.dicom.api import ingest_dicom
from radlake.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPECTED = {
    "instance": ("instance", None),
    "duplicate": ("duplicate", None),
    "truncated": ("reject", ("truncated_header", "truncated_pixel_data")),
    "zero_byte": ("reject", ("empty_file",)),
    "text": ("reject", ("not_dicom",)),
    "jpeg": ("reject", ("not_dicom",)),
}


def _is_cjk_name(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text) and all(
        "\u4e00" <= ch <= "\u9fff" or ch in "^=" or ch.isascii() for ch in text
    )


def test_simulated_pacs_export_matches_the_truth(tmp_path: Path) -> None:
    from simulator.simulate import simulate

    out = tmp_path / "sim"
    simulate(out, institutions=1, days=1, exams_per_day=40, seed=5)
    truth = list(csv.DictReader((out / "truth" / "files.csv").open(encoding="utf-8")))
    settings = Settings(lake=str(tmp_path / "lake"))
    report = ingest_dicom(settings, [out / "dicom"], workers=0)
    files = {r["file_path"]: r for r in rows(settings, FILES)}
    assert report.files_new == len(truth) == len(files)
    instances = {r["file_path"]: r for r in rows(settings, INSTANCES)}
    for t in truth:
        row = files[str(out / t["path"])]
        outcome, reasons = EXPECTED[t["kind"]]
        assert row["outcome"] == outcome, (t["kind"], row["reason"])
        if reasons:
            assert row["reason"].split(":")[0] in reasons, row["reason"]
        if t["kind"] != "instance":
            continue
        inst = instances[row["file_path"]]
        assert inst["sop_instance_uid"] == t["sop_instance_uid"]
        assert inst["accession_number"] == t["accession_number"]
        assert inst["specific_character_set"] == (t["charset"] or None)
        # Chinese text is decoded, also where the file declares no character set (then it is inferred).
        if t["name_form"] == "chinese":
            assert _is_cjk_name(inst["patient_name"]), "patient name not decoded to Chinese"
        if not t["charset"]:
            assert inst["charset_inferred"] and inst["inferred_character_set"] == "GB18030"
        else:
            assert not inst["charset_inferred"]
        if "bad_study_date" in t["defects"]:
            raw = inst["study_date_raw"]
            if len(raw) == 10 and raw[4] == raw[7] == ".":
                # PS3.5 6.2 recommends reading the pre-3.0 form yyyy.mm.dd: it is a date, kept as one.
                assert str(inst["study_date"]) == raw.replace(".", "-")
            else:
                assert inst["study_date"] is None, raw
