"""The README's five analyst questions run, as written, on a built warehouse and answer something."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.gold.dbt_cli import BuiltGold

pytestmark = [pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"


def _analyst_queries() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Analysts: five questions in SQL", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)


def test_readme_answers_five_questions_on_the_marts(gold: BuiltGold) -> None:
    queries = _analyst_queries()
    assert len(queries) == 5
    with duckdb.connect(gold.settings.warehouse_path, read_only=True) as con:
        for sql in queries:
            assert con.execute(sql).fetchall(), sql
