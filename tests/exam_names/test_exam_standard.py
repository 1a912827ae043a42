"""Tests of radlake.exam_standard: loading the versioned tables, code checks and standard names."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pytest

from radlake.errors import DataError
from radlake.exam_standard import REFERENCE_ROOT, ExamStandard, load_standard, load_standard_from

SHARED = Path("/work/shared/standard")


@pytest.fixture(scope="module")
def std() -> ExamStandard:
    return load_standard()


def test_loads_newest_version_with_its_version_string(std):
    assert std.version == (REFERENCE_ROOT / "v1" / "VERSION").read_text().strip()
    assert load_standard("v1") is not None
    assert load_standard(std.version).version == std.version


def test_unknown_version_is_a_clear_error():
    with pytest.raises(DataError, match="not shipped"):
        load_standard("1999.9")


def test_tables_hold_every_csv_row(std):
    folder = std.source_dir
    for name, table in [
        ("modality.csv", std.modalities),
        ("body_part.csv", std.body_parts),
        ("scan_method.csv", std.scan_methods),
        ("post_processing.csv", std.post_processings),
        ("addon.csv", std.addons),
    ]:
        with (folder / name).open(encoding="utf-8") as fh:
            codes = [row["code"] for row in csv.DictReader(fh)]
        assert sorted(codes) == sorted(table), name


def test_reference_files_are_the_published_copies(std):
    """The copies match the SHA-256 list of their README (taken from ../shared/standard/ when copied)."""
    readme = (std.source_dir / "README.md").read_text(encoding="utf-8")
    listed = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.MULTILINE))
    assert {"modality.csv", "body_part.csv", "dev_set.csv", "RULES.md"} <= set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((std.source_dir / name).read_bytes()).hexdigest() == digest, name
    if SHARED.is_dir():  # on a machine that has the shared folder, also byte for byte
        for src in SHARED.glob("*.csv"):
            assert (std.source_dir / src.name).read_bytes() == src.read_bytes()


def test_typed_rows(std):
    assert std.modality("CT").code == "20"
    assert std.modality("30").abbrev == "MR"
    assert std.modality("DR").dicom_modalities == ("DX", "CR", "DR")
    knee = std.body_part("080300")
    assert knee.paired and knee.level == 2 and knee.parent_code == "080000"
    assert std.body_part("010701").level == 3
    assert not std.body_part("010100").paired
    assert std.scan_methods["05"].applies("DSA") and not std.scan_methods["05"].applies("US")
    assert std.post_processings["00"].applies("RF")
    assert {b.code for b in std.body_parts_named("胸部")} == {"030000", "030100"}


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("20010701010100", True),  # the README's worked example
        ("10030100001100", True),
        ("13030600001303", True),
        ("61100000000000", True),  # 全身 is the one level-1 body part allowed
        ("20030000010000", False),  # level-1 group 胸部 is never a code's body part
        ("20010100010001", False),  # laterality on an unpaired part
        ("20010100000000", False),  # CT without a scan method
        ("40010100010000", False),  # 平扫 does not apply to US
        ("10030100001200", True),
        ("20030100001100", False),  # a radiograph view on CT
        ("99010100010000", False),  # unknown modality
        ("2001010001000", False),  # 13 digits
        ("2001010001000x", False),
    ],
)
def test_is_valid_code(std, code, valid):
    assert std.is_valid_code(code) is valid
    assert bool(std.code_problems(code)) is not valid


def test_compose_code_checks_the_result(std):
    assert std.compose_code("CT", "010701", "01", "01") == "20010701010100"
    with pytest.raises(ValueError, match="unpaired"):
        std.compose_code("CT", "010100", "01", "00", "01")


def test_standard_names_follow_the_templates(std):
    assert std.standard_name("20010701010100") == "CT副鼻窦（平扫+三维重建）"
    assert std.standard_name("30080300010001") == "MR左膝关节（平扫）"
    assert std.standard_name("10060100001300") == "DR颈椎正侧位"
    assert std.standard_name("13030600001303") == "MG双侧乳腺正侧位"
    assert std.standard_name("40020300000000") == "US甲状腺"  # scan and post 00: no bracket
    assert std.standard_name("30090200050000") == "MR颅内血管（血管成像）"
    with pytest.raises(ValueError):
        std.standard_name("20030000010000")


def test_standard_names_agree_with_the_dev_set(std):
    with std.dev_set_path().open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["codes"]]
    assert len(rows) > 50
    for row in rows:
        names = [std.standard_name(c) for c in row["codes"].split("|")]
        assert "|".join(names) == row["standard_names"], row["raw_name"]


def test_malformed_table_names_file_and_line(tmp_path, std):
    for f in std.source_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    bad = (tmp_path / "body_part.csv").read_text(encoding="utf-8").replace("010200,眼眶,orbit,1", "0102,眼眶,orbit,1")
    (tmp_path / "body_part.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(DataError, match=r"body_part.csv line 4"):
        load_standard_from(tmp_path)
