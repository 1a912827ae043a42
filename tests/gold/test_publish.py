"""Readers never block the gold build and the build never breaks readers (issue 31).

Analysts' processes hold the published files open read-only, one of them with a long query streaming, while the
real gold asset (dbt through Dagster) builds and publishes twice over a changed lake. Both builds succeed; the
old readers keep the answers of the build they opened; new connections see each new build; a pruned build's
reader still reads. Expected answers come from the tiny lake's rows, not from the marts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from radlake import publish
from radlake.config import Settings
from tests.gold.tiny_lake import EXAMS, build_tiny_lake

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LONG_ROWS = 20_000  # the reader's long query: every exam_volume_daily row times range(20000)
# Reports past their deadline in the tiny lake (its comments): A2 and A6 (emergency), B2 (consult).
LATE_IN_A = ("H01A0002", "H01A0006", "H02B0002")


def _performed(exams: list[tuple[Any, ...]]) -> tuple[list[str], int]:
    """Institutions with performed exams and their number, from the lake's rows (exam_started_at, status)."""
    rows = [e for e in exams if e[12] is not None and e[10] != "cancelled"]
    return sorted({e[0] for e in rows}), len(rows)


class Reader:
    """One analyst process (tests/gold/warehouse_reader.py) holding a warehouse file open read-only."""

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.gold.warehouse_reader", path],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.first = self._read()["answer"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the reader process died"
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("exit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)


# Builds B and C rebuild only what the readers look at (and what those read): the rest is carried over.
SELECTED = ("exam_volume_daily", "exam_standard_items", "report_timeliness", "report_timeliness_breaches")


def _gold_build(settings: Settings, select: tuple[str, ...] = ()) -> float:
    """The gold asset as Dagster runs it (dbt build into a new build, then publish); returns its seconds."""
    from orchestration.gold.dbt import dbt_gold_assets

    marts, dbt = dbt_gold_assets(settings)
    started = time.perf_counter()
    selection = [dg.AssetKey(["gold", name]) for name in select] or None
    result = dg.materialize([marts], resources={"dbt": dbt}, selection=selection, raise_on_error=False)
    assert result.success
    return time.perf_counter() - started


def _fresh_answer(settings: Settings, stewards: bool = False, sql: str = "") -> Any:
    """What a new connection to the published name sees now (another process, as a new analyst would)."""
    sql = sql or (
        "select count(*) from report_timeliness_breaches"
        if stewards
        else "select list(distinct institution order by institution), count(*) from exam_volume_daily"
    )
    path = str(publish.published_path(settings, stewards))
    code = (
        "import duckdb,json,sys;"
        "print(json.dumps(duckdb.connect(sys.argv[1],read_only=True).execute(sys.argv[2]).fetchone()))"
    )
    run = subprocess.run([sys.executable, "-c", code, path, sql], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_readers_and_builds_never_block_each_other(spark, tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    build_tiny_lake(spark, settings)
    timeline: list[str] = []
    t0 = time.perf_counter()

    def mark(what: str) -> None:
        timeline.append(f"{time.perf_counter() - t0:6.1f} s  {what}")

    seconds_a = _gold_build(settings)
    mark(f"build A published ({seconds_a:.1f} s): full lake")
    institutions_a, performed_a = _performed(EXAMS)
    assert _fresh_answer(settings)[0] == institutions_a

    analysts = Reader(str(publish.published_path(settings)))
    steward_reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys;c=duckdb.connect(sys.argv[1],read_only=True);"
            "print(c.execute('select count(*) from report_timeliness_breaches').fetchone()[0],flush=True);"
            "sys.stdin.readline();"
            "print(c.execute('select count(*) from report_timeliness_breaches').fetchone()[0],flush=True)",
            str(publish.published_path(settings, stewards=True)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert steward_reader.stdout is not None and steward_reader.stdin is not None
    steward_first = int(steward_reader.stdout.readline())
    assert steward_first == len(LATE_IN_A)
    mark("readers open: analysts' file (answers + a long query streaming), stewards' file")
    try:
        first = analysts.ask("fetch 5000")
        assert first["fetched"] == 5000
        analysts.ask("hammer_start")

        # Build B: h02's exams left the lake.
        only_h01 = [e for e in EXAMS if e[0] == "h01"]
        build_tiny_lake(spark, settings, exams=only_h01)
        seconds_b = _gold_build(settings, SELECTED)
        mark(f"build B published ({seconds_b:.1f} s) while the readers query: h01 only")
        assert _fresh_answer(settings)[0] == _performed(only_h01)[0]
        assert _fresh_answer(settings, sql="select count(*) from standard_coverage") == [2]  # carried over from A
        assert analysts.ask("answer")["answer"] == analysts.first
        assert analysts.ask("fetch 5000")["fetched"] == 10_000
        mark("readers after B: old answers; a new connection: B's")

        # Build C: h01's exams left, h02's came back.
        only_h02 = [e for e in EXAMS if e[0] == "h02"]
        build_tiny_lake(spark, settings, exams=only_h02)
        seconds_c = _gold_build(settings, SELECTED)
        mark(f"build C published ({seconds_c:.1f} s): h02 only")
        assert _fresh_answer(settings)[0] == _performed(only_h02)[0]
        hammered = analysts.ask("hammer_stop")
        # Every answer the reader got while two builds published is the one of the build it opened.
        assert hammered["seen"] == [analysts.first] and hammered["queries"] > 10
        mark(f"reader's {hammered['queries']} queries during B and C: all gave build A's answer")

        # Past the retention, build A goes (only C and B stay); the reader holding it still reads.
        removed = publish.prune_builds(settings, now=time.time() + 3 * 3600)
        # One build (A) goes, from each folder it was written to (the analysts' and the stewards' folders).
        assert len({Path(r).name for r in removed}) == 1 and len(removed) == 2
        rest = analysts.ask(f"fetch {LONG_ROWS * 100}")
        assert rest["fetched"] == analysts.first[1] * LONG_ROWS
        assert rest["exam_sum"] == performed_a * LONG_ROWS
        assert analysts.ask("answer")["answer"] == analysts.first
        mark(f"build A pruned; its reader's long query finished: {rest['fetched']} rows, consistent with A")

        steward_reader.stdin.write("again\n")
        steward_reader.stdin.flush()
        assert int(steward_reader.stdout.readline()) == len(LATE_IN_A)
        assert _fresh_answer(settings, stewards=True)[0] == len([a for a in LATE_IN_A if a.startswith("H02")])
        mark("stewards' reader still on A's breaches; a new one sees C's")
    finally:
        analysts.close()
        steward_reader.kill()
        steward_reader.wait()
    builds = sorted(p.name for p in (Path(settings.warehouse_path).parent / publish.BUILDS_DIR).iterdir())
    assert len(builds) == 2
    assert os.path.islink(settings.warehouse_path)
    print("\n".join(["", "reader/build timeline:", *timeline]))
