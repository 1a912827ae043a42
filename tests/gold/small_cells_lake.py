"""The small-cells lake: the tiny lake plus a few exams whose raw names carry a resident ID, a phone and a name (as
a careless clerk types them), built with privacy.min_cell at its default (tests/gold/test_small_cells.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from radlake.config import Settings
from tests.gold.tiny_lake import EXAMS, build_tiny_lake, t

CLERK = "CT头颅平扫 患者张三 身份证110101199003071234 电话13812345678"
SMALL = ["MR颅脑 病人李四 电话13987654321", "胸片 住院号A1234567 身份证11010119900307123X"]
IDENTIFIERS = ["张三", "李四", "110101199003071234", "11010119900307123X", "13812345678", "13987654321", "A1234567"]


def _exam(n: int, raw_name: str) -> tuple:
    """A performed, unmatched CT at h02 on 6 March (device H02CT09), one of the clerk's."""
    return (
        "h02", f"H02C{n:04d}", 100 + n, 770000009, "P7700009", "E1", "routine", "神经内科", raw_name, "CT",
        "completed", t("2024-03-06 08:00"), t(f"2024-03-06 {9 + n % 8:02d}:00"), t(f"2024-03-06 {9 + n % 8:02d}:20"),
        date(2024, 3, 6), "H02CT09", "signed", t("2024-03-06 18:00"), t("2024-03-06 19:00"), None, False, None,
        "unmatched",
    )  # fmt: skip


def build_small_cells_lake(spark: Any, settings: Settings) -> None:
    """The tiny lake with the clerk's exams added (six with identifiers in one name, two small cells)."""
    assert settings.privacy.min_cell == 5
    extra = [_exam(n, CLERK) for n in range(6)] + [_exam(6 + n, name) for n, name in enumerate(SMALL)]
    build_tiny_lake(spark, settings, exams=EXAMS + extra)
