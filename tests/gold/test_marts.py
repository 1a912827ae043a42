"""dbt build over the tiny lake: green, marts as plain tables, and figures worked out by hand from its rows."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import duckdb
import pytest

from tests.gold.dbt_cli import PSEUDONYM_KEY, BuiltGold

pytestmark = [pytest.mark.slow]

MARTS = {
    "exam_volume_daily",
    "exam_standard_items",
    "exam_volume_by_item_daily",
    "advanced_exam_share",
    "standard_coverage",
    "report_turnaround",
    "device_utilisation_daily",
    "department_capability",
    "dicom_header_completeness",
    "acquisition_rule_violations",
    "report_timeliness",
    "report_timeliness_daily",
    "link_quality_summary",
}
"""The analysts' file (``Settings.warehouse``): no direct identifiers."""

STEWARDS_MARTS = {
    "report_timeliness_breaches",
    "link_quality_exams_without_images",
    "link_quality_orphan_studies",
    "link_quality_patient_candidates",
}
"""The stewards' file (``Settings.stewards_warehouse``): work lists with real accession numbers and record ids."""


def key_of(value: str) -> str:
    """The pseudonym the marts should carry for ``value``, computed here with the standard library's HMAC."""
    return hmac.new(bytes.fromhex(PSEUDONYM_KEY), value.encode(), hashlib.sha256).hexdigest()[:16]


def _rows(gold: BuiltGold, sql: str, *, stewards: bool = False) -> list[tuple[Any, ...]]:
    # As an analyst (or a steward) opens the file: no radlake settings, no extension directory, no download.
    with duckdb.connect(
        gold.settings.stewards_warehouse_path if stewards else gold.settings.warehouse_path,
        read_only=True,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    ) as con:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        return con.execute(sql).fetchall()


def test_dbt_build_is_green_with_unit_and_singular_tests(gold: BuiltGold) -> None:
    assert gold.returncode == 0, gold.output[-4000:]
    results = gold.results["results"]
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert failed == []
    ids = [r["unique_id"] for r in results]
    assert sum(i.startswith("unit_test.") for i in ids) >= 11
    singular = [i for i in ids if i.startswith("test.radlake.assert_")]
    assert len(singular) >= 16
    assert {i.split(".")[-1] for i in ids if i.startswith("model.")} >= MARTS | STEWARDS_MARTS


def test_marts_are_tables_an_analyst_opens_without_the_lake(gold: BuiltGold) -> None:
    for stewards, marts in ((False, MARTS), (True, STEWARDS_MARTS)):
        kinds = dict(_rows(gold, "select table_name, table_type from information_schema.tables", stewards=stewards))
        assert set(kinds) >= marts
        assert not set(kinds) & ((MARTS | STEWARDS_MARTS) - marts)  # each list in its own file only
        assert set(kinds.values()) == {"BASE TABLE"}  # no views: nothing reads delta_scan at query time
        assert _rows(gold, "select count(*) from duckdb_views() where not internal", stewards=stewards) == [(0,)]
        for name in kinds:
            _rows(gold, f'select * from "{name}" limit 1', stewards=stewards)


def test_operational_marts(gold: BuiltGold) -> None:
    rows = _rows(gold, "select exam_date, institution, modality, exam_count, folded from exam_volume_daily")
    assert not any(r[4] for r in rows)  # the minimum cell size is off (1) for these hand-checked figures
    assert sorted((str(d), i, m, n) for d, i, m, n, _ in rows) == [
        ("2024-03-04", "h01", "CT", 2),
        ("2024-03-04", "h01", "MR", 1),
        ("2024-03-04", "h02", "CT", 1),
        ("2024-03-04", "h02", "US", 1),
        ("2024-03-05", "h01", "CT", 1),
        ("2024-03-05", "h02", "MR", 1),
    ]
    # h01: 5 exam lines besides the film fee, all matched; h02: HRCT matched, the others review / unmatched.
    assert _rows(
        gold,
        "select institution, exams, mapped_exams, coverage_share, raw_name_coverage_share from standard_coverage"
        " order by 1",
    ) == [("h01", 5, 5, 1.0, 0.8333), ("h02", 3, 1, 0.3333, 0.3333)]
    advanced = _rows(
        gold,
        "select ordering_department, contrast_exams, cta_exams, mr_functional_exams, advanced_exams "
        "from advanced_exam_share where institution = 'h01' order by 1",
    )
    assert sorted(advanced) == sorted(
        [("呼吸科", 0, 0, 0, 0), ("急诊科", 1, 0, 0, 1), ("神经内科", 0, 0, 1, 1), ("心内科", 0, 1, 0, 1)]
    )
    # H01CT01 on 4 March: 09:00-09:10 and 09:20-09:35.
    assert _rows(
        gold,
        "select exam_count, busy_minutes, span_minutes, idle_minutes, longest_idle_gap_minutes, busy_share_of_span "
        "from device_utilisation_daily where device_station = 'H01CT01'",
    ) == [(2, 25.0, 35.0, 10.0, 10.0, 0.7143)]
    # The emergency CT of 急诊科: ordered 09:05, 09:20-09:35, written 10:20, signed 10:30.
    assert _rows(
        gold,
        "select order_to_start_p50_min, start_to_end_p50_min, end_to_written_p50_min, written_to_signed_p50_min, "
        "order_to_signed_p90_min from report_turnaround where ordering_department = '急诊科'",
    ) == [(15.0, 15.0, 45.0, 10.0, 85.0)]
    ranks = _rows(gold, "select institution, ordering_department, group_rank from department_capability order by 3")
    assert ranks[-1] == ("h01", "心内科", 7)  # nothing reported yet: slowest, and no breadth or volume edge


def test_quality_marts(gold: BuiltGold) -> None:
    # Four H01CT01 instances, one without kVp.
    assert _rows(
        gold,
        "select instances, instances_present, share_present from dicom_header_completeness "
        "where institution = 'h01' and station_name = 'H01CT01' and header_field = 'KVP'",
    ) == [(4, 3, 0.75)]
    assert _rows(
        gold,
        "select share_present from dicom_header_completeness "
        "where institution = '(unlinked)' and modality = 'MR' and header_field = 'MagneticFieldStrength'",
    ) == [(0.0,)]
    # Analysts see series and studies only by their keyed pseudonyms.
    assert sorted(
        _rows(gold, "select rule_id, subject_key, study_key, observed_mm from acquisition_rule_violations")
    ) == sorted(
        [
            ("ct_slice_thickness", key_of("1.3.2.1"), key_of("1.2.826.0.1.2"), 8.0),
            ("lung_ct_thin_reconstruction", key_of("1.2.826.0.2.2"), key_of("1.2.826.0.2.2"), 1.25),
        ]
    )
    assert sorted(
        _rows(gold, "select exam_key, timeliness from report_timeliness where timeliness <> 'on_time'")
    ) == sorted(
        [
            (key_of("h01:H01A0002"), "late"),
            (key_of("h01:H01A0006"), "missing"),
            (key_of("h02:H02B0002"), "late"),
        ]
    )
    # The stewards' file names the same exams by accession number, with the exact times.
    assert sorted(
        _rows(
            gold,
            "select accession_number, exam_key, breach, minutes_taken, minutes_over, "
            "strftime(deadline_at at time zone 'Asia/Shanghai', '%H:%M') from report_timeliness_breaches",
            stewards=True,
        )
    ) == [
        ("H01A0002", key_of("h01:H01A0002"), "late", 45.0, 15.0, "10:05"),
        ("H01A0006", key_of("h01:H01A0006"), "missing", 190.0, 160.0, "08:50"),
        ("H02B0002", key_of("h02:H02B0002"), "late", 835.0, 115.0, "03:05"),
    ]
    assert sorted(_rows(gold, "select accession_number from link_quality_exams_without_images", stewards=True)) == [
        ("H01A0003",),
        ("H02B0001",),
        ("H02B0003",),
    ]
    assert sorted(
        _rows(gold, "select study_instance_uid, reason, modality from link_quality_orphan_studies", stewards=True)
    ) == [
        ("1.2.826.0.9.1", "unknown_accession", "MR"),
        ("1.2.826.0.9.2", "no_accession", "DX"),
    ]
    assert sorted(
        _rows(
            gold,
            "select record_id, institution, candidate_empi_ids, exams from link_quality_patient_candidates",
            stewards=True,
        )
    ) == [("h01:M8800002", "h01", ["E2", "E9"], 3), ("h02:P7700009", "h02", ["E1", "E3"], 2)]
