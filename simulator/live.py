"""The ``--live`` change stream: keep a simulated group's RIS/HIS databases changing, as a working day does."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.ris import CHINA_TZ, TABLE_COLUMNS, stable_seed

# Relative frequency of each kind of change.
CHANGE_WEIGHTS: dict[str, float] = {
    "new_order": 22,
    "schedule": 10,
    "start_exam": 12,
    "finish_exam": 12,
    "write_report": 12,
    "edit_report": 9,
    "sign_report": 10,
    "cancel": 5,
    "amend_report": 2,
    "delete_report": 1,
    "delete_order": 1,
    "key_update": 2,
    "patient_update": 2,
}
_VISIT_DEPARTMENTS = {"outpatient": "呼吸科", "emergency": "急诊科", "inpatient": "骨科", "physical": "体检中心"}
_EDITS = ("补充：余未见明显异常。", "建议结合临床。", "建议短期复查。", "（修改描述）")


@dataclass
class LiveSummary:
    """What a live run changed."""

    changes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """All changes committed."""
        return sum(self.changes.values())


class _House:
    """One institution's connection and the identifiers it hands out next."""

    def __init__(self, code: str, conn: Any) -> None:
        self.code = code
        self.conn = conn
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        self.next_id = {
            "visit": (one("SELECT coalesce(max(visit_id), 8000000) FROM ris.visits")) + 1,
            "order": (one("SELECT coalesce(max(order_id), 1000000) FROM ris.exam_orders")) + 1,
            "record": (one("SELECT coalesce(max(record_id), 5000000) FROM ris.exam_records")) + 1,
            "report": (one("SELECT coalesce(max(report_id), 7000000) FROM ris.reports")) + 1,
        }
        self.patients = [r[0] for r in conn.execute("SELECT patient_id FROM ris.patients ORDER BY patient_id")]
        self.departments = dict(conn.execute("SELECT name, department_id FROM ris.departments").fetchall())
        self.devices: dict[str, list[int]] = {}
        for device_id, modality in conn.execute("SELECT device_id, modality FROM ris.devices ORDER BY device_id"):
            self.devices.setdefault(modality, []).append(device_id)
        self.staff = [r[0] for r in conn.execute("SELECT DISTINCT technologist FROM ris.exam_records ORDER BY 1")]
        self.readers = [r[0] for r in conn.execute("SELECT DISTINCT radiologist FROM ris.reports ORDER BY 1")]

    def take(self, kind: str) -> int:
        value = int(self.next_id[kind])
        self.next_id[kind] = value + 1
        return value

    def pick(self, rng: random.Random, sql: str) -> Any:
        """A random one of the most recent candidates (None if there is none)."""
        rows = self.conn.execute(sql).fetchall()
        return rng.choice(rows)[0] if rows else None


def _department(house: _House, name: str) -> int | None:
    # Houses name radiology differently; clinical departments are the same everywhere.
    return house.departments.get(name) or next(iter(house.departments.values()), None)


def _new_order(
    house: _House, rng: random.Random, ts: datetime, items: list[Any], billing: list[str], spell: Any
) -> str:
    vtype = rng.choices(list(_VISIT_DEPARTMENTS), (53, 15, 20, 12))[0]
    dept = _department(house, _VISIT_DEPARTMENTS[vtype])
    patient = rng.choice(house.patients)
    visit_id = house.take("visit")
    house.conn.execute(
        "INSERT INTO ris.visits VALUES (%s, %s, %s, %s, %s, %s)", (visit_id, patient, vtype, dept, ts, ts)
    )
    order_id = house.take("order")
    accession = f"{house.code}{ts:%y%m%d}{order_id % 100_000:05d}"
    priority = "routine"
    if vtype == "emergency":
        priority = "emergency"
    elif vtype == "inpatient" and rng.random() < 0.25:
        priority = "consult"
    info = json.dumps({"complaint": "复查", "doctor": "值班医生", "allergy": "无"}, ensure_ascii=False)
    if rng.random() < 0.03:
        name, modality, fee, contrast = rng.choice(billing), None, Decimal("20.00"), False
    else:
        item = rng.choices(items, weights=[i.weight for i in items])[0]
        name, modality, contrast = spell(item, house.code, rng), item.dicom_modality, item.contrast
        fee = Decimal(f"{rng.uniform(60, 900):.2f}")
    house.conn.execute(
        "INSERT INTO ris.exam_orders VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'ordered', %s, %s, %s, %s, %s)",
        (order_id, accession, visit_id, patient, dept, priority, name, modality, fee, contrast, info, ts, ts),
    )
    return "new_order"


@dataclass
class _Tick:
    """What one change needs: the institution's connection and ids, the random source and the moment."""

    house: _House
    rng: random.Random
    ts: datetime
    items: list[Any]
    billing: list[str]
    spell: Any

    def pick(self, sql: str) -> Any:
        return self.house.pick(self.rng, sql)

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        self.house.conn.execute(sql, params)


_RECENT = "ORDER BY order_id DESC LIMIT 30"


def _new_order_change(t: _Tick, kind: str) -> str | None:
    return _new_order(t.house, t.rng, t.ts, t.items, t.billing, t.spell)


def _order_status_change(t: _Tick, kind: str) -> str | None:
    statuses = "('ordered')" if kind == "schedule" else "('ordered', 'scheduled')"
    oid = t.pick(f"SELECT order_id FROM ris.exam_orders WHERE status IN {statuses} AND modality IS NOT NULL {_RECENT}")
    if oid is None:
        return None
    status = "scheduled" if kind == "schedule" else "cancelled"
    t.execute("UPDATE ris.exam_orders SET status = %s, updated_at = %s WHERE order_id = %s", (status, t.ts, oid))
    return kind


def _start_exam(t: _Tick, kind: str) -> str | None:
    row = t.house.conn.execute(
        "SELECT order_id, modality FROM ris.exam_orders WHERE status IN ('ordered', 'scheduled') "
        f"AND modality IS NOT NULL {_RECENT}"
    ).fetchall()
    if not row:
        return None
    oid, modality = t.rng.choice(row)
    device = t.rng.choice(t.house.devices.get(modality) or [None])
    t.execute(
        "INSERT INTO ris.exam_records VALUES (%s, %s, %s, %s, NULL, %s, %s)",
        (t.house.take("record"), oid, device, t.ts, t.rng.choice(t.house.staff or ["技师"]), t.ts),
    )
    t.execute("UPDATE ris.exam_orders SET status = 'in_progress', updated_at = %s WHERE order_id = %s", (t.ts, oid))
    return kind


def _finish_exam(t: _Tick, kind: str) -> str | None:
    oid = t.pick(f"SELECT order_id FROM ris.exam_orders WHERE status = 'in_progress' {_RECENT}")
    if oid is None:
        return None
    t.execute("UPDATE ris.exam_records SET ended_at = %s, updated_at = %s WHERE order_id = %s", (t.ts, t.ts, oid))
    t.execute("UPDATE ris.exam_orders SET status = 'completed', updated_at = %s WHERE order_id = %s", (t.ts, oid))
    return kind


def _write_report(t: _Tick, kind: str) -> str | None:
    oid = t.pick(
        "SELECT o.order_id FROM ris.exam_orders o WHERE o.status = 'completed' AND o.modality IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM ris.reports r WHERE r.order_id = o.order_id) "
        "ORDER BY o.order_id DESC LIMIT 30",
    )
    if oid is None:
        return None
    status = t.rng.choice(("draft", "written"))
    t.execute(
        "INSERT INTO ris.reports VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, %s)",
        (t.house.take("report"), oid, t.rng.choice(t.house.readers or ["医师"]), "所见：未见明显异常。",
         "未见明显异常。", status, t.ts, t.ts),
    )  # fmt: skip
    return kind


# Which reports each report change may touch, and what it does to one (report_id is the last parameter).
_REPORT_CHANGES: dict[str, tuple[str, str, Callable[[_Tick], tuple[Any, ...]]]] = {
    "edit_report": (
        "status IN ('draft', 'written')",
        "UPDATE ris.reports SET findings = findings || %s, status = 'written', written_at = %s, updated_at = %s "
        "WHERE report_id = %s",
        lambda t: (t.rng.choice(_EDITS), t.ts, t.ts),
    ),
    "sign_report": (
        "status = 'written'",
        "UPDATE ris.reports SET status = 'signed', signed_at = %s, updated_at = %s WHERE report_id = %s",
        lambda t: (t.ts, t.ts),
    ),
    "amend_report": (
        "status = 'signed'",
        "UPDATE ris.reports SET status = 'amended', impression = impression || '（更正）', updated_at = %s "
        "WHERE report_id = %s",
        lambda t: (t.ts,),
    ),
    # A primary key changes now and then (a report re-filed under a new number).
    "key_update": (
        "true",
        "UPDATE ris.reports SET report_id = %s, updated_at = %s WHERE report_id = %s",
        lambda t: (t.house.take("report"), t.ts),
    ),
}


def _report_change(t: _Tick, kind: str) -> str | None:
    where, update, params = _REPORT_CHANGES[kind]
    rid = t.pick(f"SELECT report_id FROM ris.reports WHERE {where} ORDER BY report_id DESC LIMIT 30")
    if rid is None:
        return None
    t.execute(update, (*params(t), rid))
    return kind


def _delete_report(t: _Tick, kind: str) -> str | None:
    # A draft discarded by its author.
    rid = t.pick("SELECT report_id FROM ris.reports WHERE status = 'draft' ORDER BY 1 DESC LIMIT 30")
    if rid is None:
        return None
    t.execute("DELETE FROM ris.reports WHERE report_id = %s", (rid,))
    return kind


def _delete_order(t: _Tick, kind: str) -> str | None:
    # A cancelled order that never got further is purged.
    oid = t.pick(
        "SELECT o.order_id FROM ris.exam_orders o WHERE o.status = 'cancelled' "
        "AND NOT EXISTS (SELECT 1 FROM ris.exam_records r WHERE r.order_id = o.order_id) "
        "AND NOT EXISTS (SELECT 1 FROM ris.reports p WHERE p.order_id = o.order_id) "
        "ORDER BY o.order_id DESC LIMIT 30",
    )
    if oid is None:
        return None
    t.execute("DELETE FROM ris.exam_orders WHERE order_id = %s", (oid,))
    return kind


def _patient_update(t: _Tick, kind: str) -> str | None:
    pid = t.rng.choice(t.house.patients)
    phone = f"1{t.rng.choice((38, 39, 58, 86, 89))}{t.rng.randrange(10**8):08d}"
    t.execute("UPDATE ris.patients SET phone = %s, updated_at = %s WHERE patient_id = %s", (phone, t.ts, pid))
    return kind


_CHANGES: dict[str, Callable[[_Tick, str], str | None]] = {
    "new_order": _new_order_change,
    "schedule": _order_status_change,
    "cancel": _order_status_change,
    "start_exam": _start_exam,
    "finish_exam": _finish_exam,
    "write_report": _write_report,
    **dict.fromkeys(_REPORT_CHANGES, _report_change),
    "delete_report": _delete_report,
    "delete_order": _delete_order,
    "patient_update": _patient_update,
}


def _apply(
    kind: str, house: _House, rng: random.Random, ts: datetime, items: list[Any], billing: list[str], spell: Any
) -> str | None:
    """Apply one change of ``kind``; None when nothing qualifies (the caller then places a new order)."""
    try:
        change = _CHANGES[kind]
    except KeyError:
        raise ValueError(f"unknown change kind {kind!r}") from None
    return change(_Tick(house, rng, ts, items, billing, spell), kind)


def run_live(
    out_dir: Path,
    rate: float = 5.0,
    duration: float | None = None,
    seed: int | None = None,
    *,
    stop: threading.Event | None = None,
    max_changes: int | None = None,
    on_change: Callable[[str, str], None] | None = None,
) -> LiveSummary:
    """Keep changing a simulated group's databases until stopped.

    Each change is one committed transaction: new orders (with a visit), scheduling, exam start and end, report
    writing, edits, signing and amendments, cancellations (updates), a few deletes, now and then a primary-key
    update, and patient phone changes. Timestamps start at the later of now and the newest ``updated_at`` in
    the data and advance with the wall clock, strictly increasing, so a watermark on ``updated_at`` sees every
    change.

    Parameters
    ----------
    out_dir
        The folder of a finished :func:`simulator.simulate.simulate` run (its server is started if needed).
    rate
        Changes per second over all institutions.
    duration
        Stop after this many seconds (None: until ``stop``, ``max_changes``, SIGINT or SIGTERM).
    seed
        Seed of the choices (default: derived from the simulation's seed).
    stop
        An event another thread sets to end the run.
    max_changes
        Stop after this many changes.
    on_change
        Called as ``on_change(kind, institution)`` after each committed change.

    Returns
    -------
    LiveSummary
        Changes committed per kind, and the seconds run.

    Raises
    ------
    ValueError
        If ``rate`` is not positive.
    """
    import psycopg

    from radlake.postgres import embedded_server, with_database
    from simulator.exam_names import billing_lines, exam_items, spell
    from simulator.simulate import read_manifest

    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    out_dir = Path(out_dir).resolve()
    manifest = read_manifest(out_dir)
    rng = random.Random(seed if seed is not None else stable_seed(manifest["seed"], "live"))
    items, billing = exam_items(), billing_lines()
    uri = embedded_server(out_dir / "postgres")
    halt = stop or threading.Event()
    summary = LiveSummary()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: halt.set())
    try:
        with ExitStack() as stack:
            houses = []
            for inst in manifest["institutions"]:
                if inst.get("ris", "postgres") != "postgres":
                    continue  # an HL7-only RIS has no database to change
                conn = stack.enter_context(psycopg.connect(with_database(uri, inst["database"]), autocommit=True))
                houses.append(_House(inst["code"], conn))
            newest_sql = " UNION ALL ".join(f"SELECT max(updated_at) t FROM ris.{t}" for t in TABLE_COLUMNS)
            stamps = [h.conn.execute(f"SELECT max(t) FROM ({newest_sql}) x").fetchone()[0] for h in houses]
            # Continue from the data's newest stamp, or from now when the simulated days lie in the past.
            base = max(
                [s for s in stamps if s is not None]
                + [datetime.fromisoformat(manifest["simulated_until"]), datetime.now(CHINA_TZ)]
            )
            base += timedelta(seconds=1)
            started = time.monotonic()
            last = base
            kinds, weights = list(CHANGE_WEIGHTS), list(CHANGE_WEIGHTS.values())
            n = 0
            while not halt.is_set():
                if max_changes is not None and n >= max_changes:
                    break
                elapsed = time.monotonic() - started
                if duration is not None and elapsed >= duration:
                    break
                wait = n / rate - elapsed
                if wait > 0 and halt.wait(min(wait, 0.5)):
                    break
                if wait > 0.5:
                    continue
                # Strictly increasing stamps: two changes never share an updated_at.
                ts = max(base + timedelta(seconds=time.monotonic() - started), last + timedelta(microseconds=1))
                ts = ts.astimezone(CHINA_TZ)
                last = ts
                house = rng.choice(houses)
                kind = rng.choices(kinds, weights)[0]
                with house.conn.transaction():
                    done = _apply(kind, house, rng, ts, items, billing, spell)
                    if done is None:
                        done = _new_order(house, rng, ts, items, billing, spell)
                summary.changes[done] = summary.changes.get(done, 0) + 1
                n += 1
                if on_change:
                    on_change(done, house.code)
            summary.seconds = time.monotonic() - started
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return summary
