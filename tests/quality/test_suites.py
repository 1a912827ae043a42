"""Each quality suite against a good and a broken batch: the right expectations fail, with the right severity."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from expectations.runner import SuiteResult, validate
from expectations.suites import Suite, all_suites, bronze, gold, silver
from radlake.config import Settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(lake=str(tmp_path_factory.mktemp("quality") / "lake"))


def _run(settings: Settings, suite: Suite, frame: pd.DataFrame) -> SuiteResult:
    batch = suite.prepare(frame) if suite.prepare else frame
    return validate(settings, suite, batch, build_docs=False)


def _failed(result: SuiteResult) -> set[tuple[str, str | None, str]]:
    return {(o.expectation.removeprefix("expect_"), o.column, o.severity) for o in result.failed}


def test_every_suite_is_registered_with_a_known_layer() -> None:
    suites = all_suites()
    assert {s.layer for s in suites.values()} == {"bronze", "silver", "gold"}
    for suite in suites.values():
        assert suite.table.split("/")[0] in ("bronze", "silver", "gold")
        assert suite.build(), suite.name
        for expectation in suite.build():
            assert str(
                expectation.severity.value if hasattr(expectation.severity, "value") else expectation.severity
            ) in (
                "critical",
                "warning",
            )


# --- bronze -----------------------------------------------------------------------------------------------


def _files(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_path": [f"/pacs/h01/{i}.dcm" for i in range(n)],
            "sha256": [f"{i:064x}" for i in range(n)],
            "outcome": ["instance"] * (n - 1) + ["reject"],
            "sop_instance_uid": [f"1.2.3.{i}" for i in range(n - 1)] + [None],
            "reason": [None] * (n - 1) + ["not DICOM (no preamble)"],
        }
    )


def test_dicom_files(settings: Settings) -> None:
    assert _run(settings, bronze.DICOM_FILES, _files()).success
    bad = _files()
    bad.loc[0, "file_path"] = bad.loc[1, "file_path"]  # a file seen twice
    bad.loc[2:6, "outcome"] = "reject"  # 6 of 40 rejected: above 5 %
    bad.loc[2:6, "reason"] = "truncated"
    bad.loc[2:6, "sop_instance_uid"] = None
    bad.loc[7, "sha256"] = "XYZ"
    result = _run(settings, bronze.DICOM_FILES, bad)
    assert _failed(result) == {
        ("column_values_to_be_unique", "file_path", "critical"),
        ("column_values_to_not_be_in_set", "outcome", "warning"),
        ("column_values_to_match_regex", "sha256", "critical"),
    }
    assert result.blocking


def _instances(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sop_instance_uid": [f"1.2.826.0.1.{i}" for i in range(n)],
            "study_instance_uid": ["1.2.826.0.2"] * n,
            "series_instance_uid": ["1.2.826.0.3"] * n,
            "modality": ["CT"] * n,
            "study_date": [date(2024, 3, 4)] * n,
            "study_date_raw": ["20240304"] * n,
        }
    )


def test_dicom_instances(settings: Settings) -> None:
    assert _run(settings, bronze.DICOM_INSTANCES, _instances()).success
    bad = _instances()
    bad.loc[0, "sop_instance_uid"] = "1.2.826.01.5"  # a leading zero: not a UID
    bad.loc[1, "series_instance_uid"] = "1." + "2" * 70  # longer than 64
    bad.loc[2:3, "study_date"] = None  # two of thirty dates did not parse: under 95 %
    bad.loc[2:3, "study_date_raw"] = "2024.03.04"
    result = _run(settings, bronze.DICOM_INSTANCES, bad)
    assert _failed(result) == {
        ("column_values_to_match_regex", "sop_instance_uid", "critical"),
        ("column_value_lengths_to_be_between", "series_instance_uid", "critical"),
        ("column_values_to_not_be_null", "study_date", "warning"),
        ("column_values_to_match_strftime_format", "study_date_raw", "warning"),
    }
    # One bad date among thirty is tolerated.
    one = _instances()
    one.loc[2, "study_date"], one.loc[2, "study_date_raw"] = None, "2024.03.04"
    assert _run(settings, bronze.DICOM_INSTANCES, one).success


# --- silver -----------------------------------------------------------------------------------------------


def _exams() -> pd.DataFrame:
    started = datetime(2024, 3, 4, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "institution": ["h01", "h01", "h02"],
            "accession_number": ["A1", "A2", "B1"],
            "priority": ["routine", "emergency", "consult"],
            "status": ["completed", "cancelled", "completed"],
            "modality": ["CT", None, "MR"],
            "exam_date": [date(2024, 3, 4)] * 3,
            "exam_started_at": [started, None, started],
            "exam_codes": [np.array(["20030100010000"]), np.array([], dtype=object), None],
            "exam_name_status": ["matched", "not_exam", None],
        }
    )


def test_exams(settings: Settings) -> None:
    assert _run(settings, silver.EXAMS, _exams()).success
    bad = pd.concat([_exams(), _exams().iloc[[0]]], ignore_index=True)  # a duplicate key
    bad["exam_codes"] = [
        np.array(["20030100010000"]),
        np.array(["20030100010000", "2003010001"]),  # 10 digits
        np.array(["99030100010000"]),  # no modality 99
        np.array(["20030100010000"]),
    ]
    result = _run(settings, silver.EXAMS, bad)
    assert _failed(result) == {
        ("compound_columns_to_be_unique", "institution,accession_number", "critical"),
        ("column_values_to_be_null", "_invalid_code", "critical"),
    }
    assert result.blocking
    codes = next(o for o in result.failed if o.column == "_invalid_code")
    assert codes.unexpected_count == 2 and any("unknown modality 99" in str(v) for v in codes.unexpected_sample)


def _name_map() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "institution": ["h01", "h01", "h01"],
            "raw_name": ["CT胸部平扫", "胶片费", "头颅核磁"],
            "codes": [["20030100010000"], [], ["30010100010000"]],
            "standard_names": [["CT胸部（平扫）"], [], ["MR颅脑（平扫）"]],
            "status": ["matched", "not_exam", "review"],
            "confidence": [0.98, 0.99, 0.6],
            "standard_version": ["2026.1"] * 3,
        }
    )


def test_exam_name_map(settings: Settings) -> None:
    assert _run(settings, silver.EXAM_NAME_MAP, _name_map()).success
    bad = _name_map()
    # Matched without a code; a level-1 body part (010000 is never a code's part).
    bad["codes"] = [[], [], ["30010000010000"]]
    bad["standard_names"] = [[], [], ["MR头部（平扫）"]]
    bad.loc[1, "standard_version"] = "1999.9"
    result = _run(settings, silver.EXAM_NAME_MAP, bad)
    codes = next(o for o in result.failed if o.column == "_invalid_code")
    assert codes.unexpected_count == 1  # a version nobody ships matters only where there are codes
    assert _failed(result) == {
        ("column_values_to_be_null", "_invalid_code", "critical"),
        ("column_values_to_be_between", "_code_count", "critical"),
    }


def _master() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": ["h01:M1", "h01:M2", "h02:P9"],
            "empi_id": ["E1", "E2", "E1"],
            "match_probability": [1.0, 1.0, 0.97],
        }
    )


def test_patient_master(settings: Settings) -> None:
    assert _run(settings, silver.PATIENT_MASTER, _master()).success
    bad = pd.concat([_master(), pd.DataFrame({"record_id": ["h01:M1"], "empi_id": ["E7"], "match_probability": [2.0]})])
    result = _run(settings, silver.PATIENT_MASTER, bad.reset_index(drop=True))
    # Two empi ids for one record; the batch names the record only by its pseudonymous key.
    assert _failed(result) == {
        ("column_values_to_be_unique", "patient_record_key", "critical"),
        ("column_values_to_be_between", "match_probability", "warning"),
    }
    assert "h01:M1" not in str(result)


def test_accession_links(settings: Settings) -> None:
    good = pd.DataFrame(
        {"study_instance_uid": [f"1.2.{i}" for i in range(20)], "accession_number": ["A"] * 20, "links_to_order": True}
    )
    assert _run(settings, silver.ACCESSION_LINKS, good).success
    bad = good.copy()
    bad.loc[0:2, "links_to_order"] = False  # 3 of 20 studies without an order: over 10 %
    result = _run(settings, silver.ACCESSION_LINKS, bad)
    assert _failed(result) == {("column_values_to_be_in_set", "links_to_order", "warning")}
    assert not result.blocking


# --- gold -------------------------------------------------------------------------------------------------


def test_gold_reconciliation(settings: Settings) -> None:
    good = pd.DataFrame(
        {"institution": ["h01", "h02"], "modality": ["CT", "MR"], "gold_exams": [5, 3], "silver_exams": [5, 3]}
    )
    assert _run(settings, gold.EXAM_VOLUME_DAILY, good).success
    bad = good.assign(gold_exams=[5, 2])
    result = _run(settings, gold.EXAM_VOLUME_DAILY, bad)
    assert _failed(result) == {("column_pair_values_to_be_equal", None, "critical")}
    empty = _run(settings, gold.EXAM_VOLUME_DAILY, good.iloc[0:0])
    assert ("table_row_count_to_be_between", None, "critical") in _failed(empty)
    devices = pd.DataFrame(
        {"gold_exams": [4], "silver_exams": [4], "busy_minutes_difference": [3.5], "institution": ["h01"]}
    )
    assert _failed(_run(settings, gold.DEVICE_UTILISATION, devices)) == {
        ("column_values_to_be_between", "busy_minutes_difference", "critical")
    }


def test_quality_output_stays_under_the_quality_dir(tmp_path: Path) -> None:
    """Two runs on a lake of its own: one history line each, in order, and nothing written outside quality/."""
    import json

    own = Settings(lake=str(tmp_path / "lake"))
    good = pd.DataFrame({"study_instance_uid": ["1.2.1", "1.2.2"], "accession_number": "A", "links_to_order": True})
    _run(own, silver.ACCESSION_LINKS, good)
    _run(own, silver.ACCESSION_LINKS, good.assign(study_instance_uid="1.2.1"))
    history = own.quality_dir / "history.jsonl"
    assert history.parent == tmp_path / "lake" / "stewards" / "quality"  # the stewards' folder, not the analysts'
    lines = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines()]
    assert [(r["suite"], r["rows"], r["success"], r["blocking"]) for r in lines] == [
        ("silver_accession_links", 2, True, False),
        ("silver_accession_links", 2, False, True),
    ]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(own.quality_dir in p.parents for p in written)


def test_dicom_file_paths_are_pseudonymised_for_quality_output() -> None:
    """PACS folders are named after MRNs: the suite sees keys, equal paths keeping equal keys."""
    import pandas as pd

    from expectations.suites.bronze import prepare_dicom_files

    df = pd.DataFrame({"file_path": ["/pacs/00012345_0930/IM1", "/pacs/00012345_0930/IM1", None]})
    out = prepare_dicom_files(df)["file_path"].tolist()
    assert (out[0] == out[1] and out[2] is None) or pd.isna(out[2])
    assert "00012345" not in out[0] and len(out[0]) == 16


def test_quality_batches_use_the_key_file_the_config_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`radlake quality run` with pseudonym_key_file and no key in the environment (as the demo's config)."""
    import hashlib
    import hmac

    from expectations.batches import load_batch
    from expectations.suites.bronze import DICOM_FILES
    from ingestion.dicom.api import ingest_dicom
    from radlake.pseudonym import KEY_ENV, KEY_FILE_ENV, write_key_file

    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    key_file = write_key_file(tmp_path / "key" / "pseudonym.key")
    settings = Settings(lake=str(tmp_path / "lake"), pseudonym_key_file=key_file)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "IM1").write_bytes(b"not a DICOM file, landed as a reject with its path")
    ingest_dicom(settings, [tmp_path / "in"], workers=0)
    batch = load_batch(settings, DICOM_FILES)
    key = bytes.fromhex(key_file.read_text().strip())
    path = str(tmp_path / "in" / "IM1")
    assert batch["file_path"].tolist() == [hmac.new(key, path.encode(), hashlib.sha256).hexdigest()[:16]]
