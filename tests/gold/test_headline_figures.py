"""The headline figures of the marts, recomputed from the lake's Delta tables with pandas (not the marts' SQL).

The shared simulated group (demo_run) is read straight from its Delta files (delta-rs file list + pyarrow), and
each figure is computed here by its definition in the README and the marts' YAML: exams per day, institution
and modality with their busy minutes; adoption of the exam standard; report deadlines met; exams without images.
"""

from __future__ import annotations

import csv
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from radlake import warehouse
from radlake.config import Settings, load_settings
from radlake.warehouse import DBT_PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _silver_exams(settings: Settings) -> pd.DataFrame:
    table = DeltaTable(f"{settings.lake}/silver/exams")
    return pq.read_table(table.file_uris()).to_pandas()


def _mart(settings: Settings, sql: str) -> pd.DataFrame:
    with warehouse.connect(settings) as con:
        return con.execute(sql).df()


def _performed(exams: pd.DataFrame) -> pd.DataFrame:
    return exams[exams["exam_started_at"].notna() & (exams["status"] != "cancelled")]


@pytest.fixture(scope="module")
def lake(demo_run) -> tuple[Settings, pd.DataFrame]:
    _, summary = demo_run
    assert summary.success
    settings = load_settings(summary.config)
    exams = _silver_exams(settings)
    assert len(exams) > 100
    return settings, exams


def test_exam_volume_daily(lake: tuple[Settings, pd.DataFrame]) -> None:
    settings, exams = lake
    cells: dict[tuple[str, str, str | None], list[float]] = {}
    for row in _performed(exams).itertuples(index=False):
        figures = cells.setdefault((str(row.exam_date), row.institution, row.modality), [0, 0.0])
        figures[0] += 1
        figures[1] += (row.exam_ended_at - row.exam_started_at).total_seconds() / 60
    # privacy.min_cell: a modality with fewer exams that day at the institution joins the day's '(other)' row.
    expected: dict[tuple[str, str, str | None], list[float]] = {}
    for (day, institution, modality), (count, minutes) in cells.items():
        shown = modality if count >= settings.privacy.min_cell else "(other)"
        figures = expected.setdefault((day, institution, shown), [0, 0.0])
        figures[0] += count
        figures[1] += minutes
    assert any(k[2] == "(other)" for k in expected) and any(k[2] != "(other)" for k in expected)
    mart = _mart(settings, "select cast(exam_date as varchar), institution, modality, exam_count, busy_minutes "
                 "from exam_volume_daily")  # fmt: skip
    measured = {(d, i, m): [n, b] for d, i, m, n, b in mart.itertuples(index=False, name=None)}
    assert sum(n for n, _ in expected.values()) == len(_performed(exams)) > 0
    assert measured.keys() == expected.keys()
    for key, (count, minutes) in expected.items():
        assert measured[key][0] == count, key
        assert abs(measured[key][1] - minutes) < 1e-6, key


def test_standard_coverage(lake: tuple[Settings, pd.DataFrame]) -> None:
    settings, exams = lake
    rows = []
    for institution, group in exams.groupby("institution"):
        status = group["exam_name_status"]
        is_exam = status.fillna("") != "not_exam"
        mapped = (status == "matched") & group["exam_codes"].map(lambda c: c is not None and len(c) > 0)
        rows.append(
            (institution, len(group), int(is_exam.sum()), int(mapped.sum()), round(mapped.sum() / is_exam.sum(), 4))
        )
    mart = _mart(
        settings, "select institution, ordered_lines, exams, mapped_exams, coverage_share from standard_coverage"
    )
    assert sorted(rows) == sorted(mart.itertuples(index=False, name=None))
    assert any(r[3] for r in rows)  # the simulator's names do map


def _deadlines() -> dict[tuple[str, str], tuple[int, str]]:
    with (DBT_PROJECT_DIR / "seeds" / "report_deadlines.csv").open(encoding="utf-8") as fh:
        return {(r["institution"], r["priority"]): (int(r["max_minutes"]), r["clock_stop"]) for r in csv.DictReader(fh)}


def test_report_deadlines_met(lake: tuple[Settings, pd.DataFrame]) -> None:
    settings, exams = lake
    deadlines = _deadlines()
    times = ["ordered_at", "exam_started_at", "exam_ended_at", "report_written_at", "report_signed_at"]
    as_of = exams[times].max(axis=1).max()  # the latest event of the data: missing reports are judged then
    counts: dict[tuple[str, str], dict[str, int]] = {}
    done = _performed(exams)
    ended = done[done["exam_ended_at"].notna()]
    ruled = ended[
        [
            bool(deadlines.get((i, p)) or deadlines.get(("*", p)))
            for i, p in zip(ended.institution, ended.priority, strict=True)
        ]
    ]
    # privacy.min_cell: a priority with fewer exams that day at the institution joins the day's '(other)' row.
    cell = ruled.groupby(["exam_date", "institution", "priority"])["priority"].transform("size")
    for row, size in zip(ruled.itertuples(index=False), cell, strict=True):
        rule = deadlines.get((row.institution, row.priority)) or deadlines.get(("*", row.priority))
        assert rule is not None
        shown = row.priority if size >= settings.privacy.min_cell else "(other)"
        minutes, stop = rule
        due = row.exam_ended_at + pd.Timedelta(minutes=minutes)
        stopped: Any = row.report_signed_at if stop == "report_signed" else row.report_written_at
        if pd.notna(stopped):
            verdict = "on_time" if stopped <= due else "late"
        else:
            verdict = "missing" if as_of > due else "pending"
        tally = counts.setdefault((row.institution, shown), dict.fromkeys(("on_time", "late", "missing", "pending"), 0))
        tally[verdict] += 1
    mart = _mart(
        settings,
        "select institution, priority, sum(on_time), sum(late), sum(missing), sum(pending) "
        "from report_timeliness_daily group by all",
    )
    measured = {
        (i, p): [int(a), int(b), int(c), int(d)] for i, p, a, b, c, d in mart.itertuples(index=False, name=None)
    }
    assert measured == {k: list(v.values()) for k, v in counts.items()}
    assert sum(v["late"] + v["missing"] for v in counts.values()) > 0  # the simulator writes late reports


def test_exams_without_images(lake: tuple[Settings, pd.DataFrame]) -> None:
    settings, exams = lake
    done = _performed(exams)
    expected = {i: (len(g), int(g["study_instance_uid"].isna().sum())) for i, g in done.groupby("institution")}
    mart = _mart(
        settings,
        "select institution, sum(performed_exams), sum(exams_without_images) from link_quality_summary group by all",
    )
    assert {i: (int(p), int(w)) for i, p, w in mart.itertuples(index=False, name=None)} == expected
    assert any(w for _, w in expected.values())
