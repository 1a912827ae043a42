"""The README's five analyst questions run, as written, on the analysts' file of the tiny lake, and give the answers
worked out by hand from its rows (tests/gold/tiny_lake.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.gold.dbt_cli import BuiltGold

pytestmark = [pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"

# 1. Performed, matched exams per institution and standard item (all days lie within seven of the last):
#    h01 A1, A2, A3, A6 (A4 cancelled, A5 a film fee); h02 only B2 (B1 unmatched, B3 under review).
TOP_ITEMS = [
    ("h01", "20030100010000", "CT胸部（平扫）", 1),
    ("h01", "20040200030000", "CT全腹（平扫+增强）", 1),
    ("h01", "20090400050000", "CT冠状动脉（血管成像）", 1),
    ("h01", "30010100010400", "MR颅脑（平扫+DWI）", 1),
    ("h02", "20030100010200", "CT胸部（平扫+高分辨）", 1),
]
# 2. h01: 5 exam lines (the film fee left out), all matched; 5 of 6 raw names (MR膝关节 never matched).
#    h02: 3 exams, HRCT matched, 头颅核磁 under review, the US name unmatched; 1 of 3 raw names. Lowest first.
COVERAGE = [("h02", 3, 1, 1, 1, 33.3, 33.3), ("h01", 5, 5, 0, 0, 100.0, 83.3)]
# 3. A2 emergency written 45 min after its end (deadline 30: 15 over; its p90 to report is itself, 45);
#    A6 emergency never reported by the as-of 11:30 (190 min: 160 over; no report, no p90);
#    B2 consult written 835 min after its end (deadline 720: 115 over; p90 835).
LATE = [
    ("h01", "急诊科", "emergency", 1, 0, 15.0, 45.0),
    ("h01", "心内科", "emergency", 0, 1, 160.0, None),
    ("h02", "呼吸科", "consult", 1, 0, 115.0, 835.0),
]
# 4. Minutes busy per device: H02MR01 40, H01MR01 30, H01CT01 10 + 15 (span 35, one 10-min gap), H01CT02 20,
#    H02US01 15, H02CT01 5; one exam a day elsewhere, so the busy share is 1 and there is no gap.
DEVICES = [
    ("h02", "H02MR01", "MR", 1, 0.7, 1.0, 0, 0.0),
    ("h01", "H01MR01", "MR", 1, 0.5, 1.0, 0, 0.0),
    ("h01", "H01CT01", "CT", 2, 0.4, 0.71, 0, 10.0),
    ("h01", "H01CT02", "CT", 1, 0.3, 1.0, 0, 0.0),
    ("h02", "H02US01", "US", 1, 0.3, 1.0, 0, 0.0),
    ("h02", "H02CT01", "CT", 1, 0.1, 1.0, 0, 0.0),
]
# 5. The A2 instance lacks kVp (3 of 4 on H01CT01); the unlinked MR study has no field strength; the unlinked
#    radiograph has no accession number. Everything else the consensus asks for is present.
HEADERS = [
    ("(unlinked)", "H01MR01", "MR", "MagneticFieldStrength", "磁场强度", 1, 0.0),
    ("(unlinked)", "H02DX01", "DX", "AccessionNumber", "检查号", 1, 0.0),
    ("h01", "H01CT01", "CT", "KVP", "管电压 kV", 1, 75.0),
]


def _analyst_queries() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Analysts: five questions in SQL", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)


def _answers(gold: BuiltGold) -> list[list[tuple[Any, ...]]]:
    queries = _analyst_queries()
    assert len(queries) == 5
    # The analysts' file alone, as an analyst opens it: no lake, no stewards' file, nothing downloaded.
    with duckdb.connect(
        gold.settings.warehouse_path, read_only=True, config={"autoinstall_known_extensions": False}
    ) as con:
        return [con.execute(sql).fetchall() for sql in queries]


def test_readme_answers_five_questions_on_the_marts(gold: BuiltGold) -> None:
    items, coverage, late, devices, headers = _answers(gold)
    assert sorted(items) == sorted(TOP_ITEMS)  # ties within an institution: compare as a set
    assert coverage == COVERAGE
    assert sorted(late) == sorted(LATE)
    assert devices[:3] == DEVICES[:3]  # the busiest three are certain (0.7, 0.5, 0.4 hours)
    assert sorted(devices) == sorted(DEVICES)
    assert headers == HEADERS
