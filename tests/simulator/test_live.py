"""The --live change stream: each change a committed transaction, counted, stamped after the data, stoppable."""

from __future__ import annotations

import threading

import psycopg
import pytest

from radlake.postgres import stop_embedded_server
from simulator.live import CHANGE_WEIGHTS, run_live

pytestmark = pytest.mark.integration

_TABLES = ("visits", "exam_orders", "exam_records", "reports", "patients")


@pytest.fixture(scope="module")
def live_sim(make_small, sim_root):
    """A one-institution simulation these tests change (each test measures its own changes)."""
    sim = make_small(sim_root / "live", institutions=1, days=1, exams_per_day=40)
    yield sim
    stop_embedded_server(sim.out / "postgres")


def _state(sim):
    with psycopg.connect(sim.uri("h01")) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM ris.{t}").fetchone()[0] for t in _TABLES}
        newest = max(conn.execute(f"SELECT max(updated_at) FROM ris.{t}").fetchone()[0] for t in _TABLES)
        report_ids = {r[0] for r in conn.execute("SELECT report_id FROM ris.reports")}
    return counts, newest, report_ids


def test_changes_are_committed_and_counted(live_sim):
    before, newest, reports_before = _state(live_sim)
    seen = []
    summary = run_live(live_sim.out, rate=1000, max_changes=300, seed=1, on_change=lambda k, i: seen.append((k, i)))
    assert summary.total == 300 == len(seen)
    assert set(summary.changes) <= set(CHANGE_WEIGHTS)
    assert {i for _, i in seen} == {"h01"}
    after, newest_after, reports_after = _state(live_sim)
    n = summary.changes.get
    assert after["visits"] == before["visits"] + n("new_order", 0)
    assert after["exam_orders"] == before["exam_orders"] + n("new_order", 0) - n("delete_order", 0)
    assert after["exam_records"] == before["exam_records"] + n("start_exam", 0)
    assert after["reports"] == before["reports"] + n("write_report", 0) - n("delete_report", 0)
    assert after["patients"] == before["patients"]
    # Every change is stamped after everything the simulation wrote.
    assert newest_after > newest
    with psycopg.connect(live_sim.uri("h01")) as conn:
        changed = conn.execute("SELECT count(*) FROM ris.exam_orders WHERE updated_at > %s", (newest,)).fetchone()[0]
        assert changed >= n("new_order", 0) - n("delete_order", 0)
        stamps = [r[0] for r in conn.execute("SELECT updated_at FROM ris.exam_orders WHERE updated_at > %s", (newest,))]
        assert len(stamps) == len(set(stamps))  # no two changes share a stamp
    # Reports that were re-keyed left their old key behind.
    if n("key_update", 0):
        assert reports_before - reports_after


def test_a_stop_event_ends_an_open_ended_run(live_sim):
    stop, changed = threading.Event(), threading.Event()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(s=run_live(live_sim.out, rate=50, stop=stop, on_change=lambda *_: changed.set()))
    )
    worker.start()
    assert changed.wait(60), "no change was made"  # running, however slow the machine
    stop.set()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert result["s"].total > 0


def test_duration_and_rate_bound_the_run(live_sim):
    summary = run_live(live_sim.out, rate=20, duration=1.0)
    # At most rate × duration changes (and the one in flight); it ran its duration, then returned by itself.
    assert 1 <= summary.total <= 22
    assert summary.seconds >= 1.0


def test_a_rate_must_be_positive(live_sim):
    with pytest.raises(ValueError, match="rate"):
        run_live(live_sim.out, rate=0, max_changes=1)
