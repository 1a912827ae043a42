"""The AI-results marts against the tiny lake's results, recomputed here from the rows the lake was given."""

from __future__ import annotations

from collections import defaultdict

import duckdb

from tests.gold.dbt_cli import BuiltGold
from tests.gold.tiny_lake import RESULTS, instances


def _truth() -> dict[tuple[str, str], tuple[int, float]]:
    """(study, AI) → (results, minutes from the study's first image landing to the AI's first result)."""
    landed: dict[str, object] = {}
    for row in instances():
        landed[row[2]] = min(landed.get(row[2], row[-2]), row[-2])  # type: ignore[type-var]
    by: dict[tuple[str, str], list] = defaultdict(list)
    for _, _, study, ai, at in RESULTS:
        by[(study, ai)].append(at)
    return {k: (len(v), (min(v) - landed[k[0]]).total_seconds() / 60) for k, v in by.items()}  # type: ignore[operator]


def test_ai_results_by_study_says_which_ai_ran_when_and_how_long_it_took(gold: BuiltGold) -> None:
    assert gold.returncode == 0, gold.output[-3000:]
    with duckdb.connect(gold.settings.stewards_warehouse_path, read_only=True) as con:
        rows = con.execute("select study_instance_uid, ai_name, results, turnaround_min from ai_results_by_study")
        got = {(s, a): (n, float(m)) for s, a, n, m in rows.fetchall()}
    assert got == _truth()


def test_ai_turnaround_daily_counts_studies_and_percentiles_per_ai(gold: BuiltGold) -> None:
    truth = _truth()
    with duckdb.connect(gold.settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select ai_name, studies, results, turnaround_p50_min, cast(result_date as varchar) "
            "from ai_turnaround_daily"
        ).fetchall()
    got = {a: (s, r, p50, day) for a, s, r, p50, day in rows}
    acme = sorted(m for (_, a), (_, m) in truth.items() if a == "ACME lung")
    assert got == {
        "ACME lung": (2, 3, round(sum(acme) / 2, 1), "2024-03-05"),  # two studies: the median is their mean
        "Other AI": (1, 1, truth[("1.2.826.0.1.1", "Other AI")][1], "2024-03-05"),  # min_cell is 1 here
    }
    # The analysts' file names no study.
    with duckdb.connect(gold.settings.warehouse_path, read_only=True) as con:
        cols = {r[0] for r in con.execute("describe ai_turnaround_daily").fetchall()}
    assert not any("uid" in c for c in cols)
