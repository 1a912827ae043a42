"""Benchmark: the first load of a hospital group, months of history backfilled in day ranges.

A group's first load is years of exams, not one day. This bench simulates ``--days`` days (default 90) of a
group at ``--exams-per-day`` (default 300: a scaled form of 30,000 exams a day, 1/100) and backfills them the
way ops would from the Dagster UI: one run per range of days (``--chunks``, default 10,10,10,15,15,30 days),
oldest first, each run the whole nightly job over its range. For each run it records wall time, peak memory
of the process tree and the orders of its days, so that

- memory can be seen to stay flat as the backfilled history grows (runs of equal length, later ones over a
  larger lake);
- ``seconds = fixed + per_1000 * orders / 1000`` is fitted over the runs (they differ in length), and the
  cost per 1,000 exams extrapolated to one year at 30,000 exams a day in weekly runs.

Run: ``.venv/bin/python bench/backfill.py [--days 90] [--exams-per-day 300] [--chunks 10,10,10,15,15,30]``.
Results: ``bench/out/backfill.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from scaling import PeakMemory, fit  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGET_EXAMS_PER_DAY = 30_000


def _orders_per_day(settings: Any) -> dict[date, int]:
    """Orders of silver/exams by exam day, read from the lake after the backfill."""
    from radlake import catalog, lake

    data = lake.read_arrow(settings, catalog.table_uri(settings, catalog.table("silver", "exams")), ["exam_date"])
    out: dict[date, int] = {}
    for d in data["exam_date"].to_pylist() if data is not None else []:
        out[d] = out.get(d, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--exams-per-day", type=int, default=300)
    parser.add_argument("--institutions", type=int, default=3)
    parser.add_argument("--chunks", default="10,10,10,15,15,30", help="days per backfill run, oldest first")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-backfill"))
    args = parser.parse_args(argv)
    chunks = [int(c) for c in args.chunks.split(",")]
    if sum(chunks) != args.days:
        raise SystemExit(f"--chunks must add up to --days ({sum(chunks)} != {args.days})")

    import shutil

    from orchestration.demo import demo_config, materialize_all
    from radlake.config import load_settings, write_settings
    from simulator.ris import MAX_EXAM_LEAD_DAYS
    from simulator.simulate import simulate

    shutil.rmtree(args.workdir, ignore_errors=True)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    start = today - timedelta(days=args.days + MAX_EXAM_LEAD_DAYS)
    per_institution = max(1, round(args.exams_per_day / args.institutions))
    t0 = time.perf_counter()
    sim = simulate(
        args.workdir,
        institutions=args.institutions,
        days=args.days,
        exams_per_day=per_institution,
        seed=3,
        start_date=start,
    )
    print(
        f"simulated {args.days} days, {sim.tables['exam_orders']} orders, {sim.dicom_files} DICOM files "
        f"in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    from orchestration.demo import PSEUDONYM_KEY_FILE
    from radlake.pseudonym import write_key_file

    write_key_file(args.workdir / PSEUDONYM_KEY_FILE)  # as radlake demo does: a random key of its own
    config = write_settings(demo_config(args.workdir, start), args.workdir / "radlake.yaml")
    settings = load_settings(config)

    runs: list[dict[str, Any]] = []
    first = start
    for i, length in enumerate(chunks):
        # The last run reaches today: the DICOM files arrived (were written) today.
        last = today if i == len(chunks) - 1 else first + timedelta(days=length - 1)
        with PeakMemory() as memory:
            t = time.perf_counter()
            ok, _checks = materialize_all(settings, args.workdir / ".dagster", first, last)
            seconds = time.perf_counter() - t
        if not ok:
            raise SystemExit(f"backfill run {first}..{last} failed: figures of a failed run are not printed")
        runs.append(
            {
                "first": first.isoformat(),
                "last": last.isoformat(),
                "days": (last - first).days + 1,
                "seconds": round(seconds, 1),
                "peak_rss_gib": round(memory.peak / 2**30, 2),
            }
        )
        print(f"run {i + 1}: {first}..{last} in {seconds:.1f} s, peak {memory.peak / 2**30:.2f} GiB", flush=True)
        first = last + timedelta(days=1)

    per_day = _orders_per_day(settings)
    for run in runs:
        lo, hi = date.fromisoformat(run["first"]), date.fromisoformat(run["last"])
        run["orders"] = sum(n for d, n in per_day.items() if lo <= d <= hi)
        run["s_per_1000"] = round(run["seconds"] / max(run["orders"], 1) * 1000, 2)
    fixed, per_order = fit([r["orders"] for r in runs], [r["seconds"] for r in runs])
    per_1000 = per_order * 1000
    weekly_runs = 52
    year_orders = 365 * TARGET_EXAMS_PER_DAY * sum(r["orders"] for r in runs) / max(args.days * args.exams_per_day, 1)
    year_seconds = weekly_runs * fixed + per_order * year_orders
    result = {
        "runs": runs,
        "fixed_s": fixed,
        "s_per_1000_orders": per_1000,
        "year_orders": year_orders,
        "year_hours_weekly_runs": year_seconds / 3600,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "backfill.json").write_text(json.dumps(result, indent=1))

    print("\n| run | days | orders | seconds | s per 1,000 orders | peak RSS GiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(runs, 1):
        print(
            f"| {i}: {r['first']}..{r['last']} | {r['days']} | {r['orders']:,} | {r['seconds']} | "
            f"{r['s_per_1000']} | {r['peak_rss_gib']} |"
        )
    print(f"\nfit: {fixed:.1f} s per run + {per_1000:.2f} s per 1,000 orders")
    print(
        f"one year at {TARGET_EXAMS_PER_DAY:,} exams a day ({year_orders:,.0f} orders) in {weekly_runs} weekly "
        f"runs: {year_seconds / 3600:.1f} h on this machine"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
