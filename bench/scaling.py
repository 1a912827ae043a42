"""Benchmark: cost of the whole pipeline per 1,000 exams at several sizes on the embedded engine (Sail).

For each size (exams a day of the whole group, spread over ``--institutions``), in a fresh process:
simulate one group for ``--days`` days, then materialise every asset and check in process through
``orchestration.demo.run_demo`` (what ``radlake demo`` runs), and record

- the wall time of each Dagster step (from the run's step statistics) and of the whole run;
- peak resident memory of the process tree (the bench process with its in-process Sail engine, plus the dbt
  and worker subprocesses), sampled with psutil every 100 ms;
- the bytes of each lake table's current snapshot (Delta add actions) and of the warehouse file;
- rows: orders, DICOM instances, silver/exams.

Then fits ``seconds = fixed + per_exam * exams`` over the sizes (least squares) and extrapolates to 30,000
exams a day. Results go to ``bench/out/scaling.json`` (``--out``) and a Markdown table on stdout
(docs/SCALING.md).

Run: ``.venv/bin/python bench/scaling.py [--sizes 300,1500,6000] [--days 1] [--institutions 3]
[--workdir /tmp/radlake-scaling]``. About 15 minutes for the defaults on 2 cores.

``--engines embedded,local-cluster`` runs every size twice: on the embedded engine and against a Sail server in
local-cluster mode (``--sail-workers`` workers in its own process, ``run_demo(..., spark=URL)``); the report
then gives the cost of distribution on one machine (cluster seconds / embedded seconds, per step too) and an
extrapolation to a group of ten institutions of 30,000 exams a day each (results in
``bench/out/scaling_engines.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TARGET_EXAMS_PER_DAY = 30_000
GROUP_INSTITUTIONS = 10
"""The extrapolation of ``--engines``: a group of this many institutions of TARGET_EXAMS_PER_DAY each."""


class PeakMemory:
    """Samples the resident memory of this process and all its children until stopped."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                procs = [self._proc, *self._proc.children(recursive=True)]
            except psutil.Error:
                procs = [self._proc]
            for p in procs:
                with contextlib.suppress(psutil.Error):  # a child that just exited
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _table_bytes(settings: Any) -> dict[str, dict[str, int]]:
    """Rows and bytes of each Delta table's current snapshot, by ``layer/name``."""
    import pyarrow as pa

    from radlake import lake

    out: dict[str, dict[str, int]] = {}
    for layer in ("bronze", "silver"):
        base = Path(settings.lake) / layer
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.iterdir() if (p / "_delta_log").is_dir()):
            dt = lake.open_table(settings, str(path))
            if dt is None:
                continue
            adds = pa.table(dt.get_add_actions(flatten=True))
            out[f"{layer}/{path.name}"] = {
                "rows": int(sum(n or 0 for n in adds["num_records"].to_pylist())),
                "bytes": int(sum(adds["size_bytes"].to_pylist())),
                "files": adds.num_rows,
            }
    return out


def run_one(
    exams_per_day: int, days: int, institutions: int, workdir: Path, seed: int, spark: str = "embedded"
) -> dict[str, Any]:
    """Simulate, then run the whole pipeline once as ``radlake demo`` does (on ``spark``); returns the
    measurements."""
    import dagster as dg

    from orchestration.demo import run_demo
    from radlake.config import load_settings
    from radlake.postgres import stop_embedded_server
    from simulator.simulate import simulate

    per_institution = max(1, round(exams_per_day / institutions))
    result: dict[str, Any] = {
        "exams_per_day": exams_per_day,
        "days": days,
        "institutions": institutions,
        "exams_per_day_per_institution": per_institution,
        "engine": "embedded" if spark == "embedded" else "local-cluster",
    }
    # Recent weekdays (full weekday volume), ending a week before today: the simulator books some exams a few
    # days after their order, and the pipeline covers the days from the first exam day to today (the DICOM
    # files' arrival day), a short range like a nightly run's refresh window.
    last = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=7)
    while last.weekday() >= 5:
        last -= timedelta(days=1)
    start = last - timedelta(days=days - 1)
    result["first_day"] = start.isoformat()
    t0 = time.perf_counter()
    summary = simulate(
        workdir, institutions=institutions, days=days, exams_per_day=per_institution, seed=seed, start_date=start
    )
    result["simulate_seconds"] = time.perf_counter() - t0
    result["orders"] = int(summary.tables["exam_orders"])
    result["dicom_files"] = int(summary.dicom_files)
    result["studies"] = int(summary.studies)

    # run_demo reuses the simulation just made: what is timed and sampled here is the pipeline alone.
    try:
        with PeakMemory() as memory:
            t0 = time.perf_counter()
            demo = run_demo(
                workdir, institutions=institutions, days=days, exams_per_day=per_institution, seed=seed, spark=spark
            )
            result["pipeline_seconds"] = time.perf_counter() - t0
    finally:
        stop_embedded_server(workdir / "postgres")
    result["peak_rss_bytes"] = memory.peak
    result["success"] = demo.success
    result["checks"] = demo.checks
    result["marts"] = demo.marts
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME is the demo's
        (run,) = instance.get_runs(limit=1)
        stats = instance.get_run_step_stats(run.run_id)
    result["steps"] = {
        s.step_key: round((s.end_time or 0) - (s.start_time or 0), 3) for s in stats if s.start_time and s.end_time
    }
    settings = load_settings(demo.config)
    result["tables"] = _table_bytes(settings)
    warehouse = Path(settings.warehouse_path)
    result["warehouse_bytes"] = warehouse.stat().st_size if warehouse.exists() else 0
    return result


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line ``y = a + b x``; returns (a, b)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def report(results: list[dict[str, Any]]) -> str:
    """The Markdown tables of docs/SCALING.md: cost per size and step, the fitted line, the extrapolation."""
    results = sorted(results, key=lambda r: r["orders"])
    lines = [
        "| exams/day | orders | DICOM files | simulate s | pipeline s | s per 1,000 orders | peak RSS GiB | "
        "lake MiB | lake KiB per order |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lake_bytes = sum(t["bytes"] for t in r["tables"].values())
        lines.append(
            f"| {r['exams_per_day']:,} | {r['orders']:,} | {r['dicom_files']:,} | {r['simulate_seconds']:.1f} | "
            f"{r['pipeline_seconds']:.1f} | {1000 * r['pipeline_seconds'] / r['orders']:.1f} | "
            f"{r['peak_rss_bytes'] / 2**30:.2f} | {lake_bytes / 2**20:.1f} | {lake_bytes / 1024 / r['orders']:.2f} |"
        )
    steps = sorted({k for r in results for k in r["steps"]})
    lines += ["", "| step (seconds) | " + " | ".join(f"{r['exams_per_day']:,}/day" for r in results) + " |"]
    lines.append("|---|" + "---:|" * len(results))
    for step in steps:
        cells = " | ".join(f"{r['steps'].get(step, float('nan')):.1f}" for r in results)
        lines.append(f"| {step} | {cells} |")
    orders_per_exam = results[-1]["orders"] / (results[-1]["exams_per_day"] * results[-1]["days"])
    target = TARGET_EXAMS_PER_DAY * orders_per_exam
    lines.append("")
    fits = [("the three smallest sizes", results[:3])] if len(results) > 3 else []
    for label, subset in [*fits, ("all sizes", results)]:
        if len(subset) < 2:
            continue
        a, b = fit([float(r["orders"]) for r in subset], [r["pipeline_seconds"] for r in subset])
        lines.append(
            f"- Fit over {label}: pipeline seconds = {a:.1f} + {1000 * b:.2f} x (orders / 1,000); at "
            f"{TARGET_EXAMS_PER_DAY:,} exams a day (about {target:,.0f} orders): {a + b * target:,.0f} s."
        )
    measured = [r for r in results if r["exams_per_day"] == TARGET_EXAMS_PER_DAY]
    if measured:
        lines.append(f"- Measured at {TARGET_EXAMS_PER_DAY:,} exams a day: {measured[0]['pipeline_seconds']:.0f} s.")
    return "\n".join(lines)


def report_engines(results: list[dict[str, Any]], sail_workers: int) -> str:
    """Embedded vs local-cluster at each size: the cost of distribution on one machine, per run and per step,
    and the extrapolation to a group of GROUP_INSTITUTIONS institutions of TARGET_EXAMS_PER_DAY exams a day."""
    by = {(r["engine"], r["exams_per_day"]): r for r in results}
    sizes = sorted({r["exams_per_day"] for r in results})
    lines = [
        f"| exams/day | orders | embedded s | local-cluster s ({sail_workers} workers) | cluster / embedded |",
        "|---:|---:|---:|---:|---:|",
    ]
    pairs = []
    for size in sizes:
        e, c = by.get(("embedded", size)), by.get(("local-cluster", size))
        if e is None or c is None:
            continue
        pairs.append((e, c))
        lines.append(
            f"| {size:,} | {e['orders']:,} | {e['pipeline_seconds']:.1f} | {c['pipeline_seconds']:.1f} | "
            f"{c['pipeline_seconds'] / e['pipeline_seconds']:.2f} |"
        )
    if not pairs:
        return "\n".join(lines)
    e, c = pairs[-1]
    steps = sorted(set(e["steps"]) | set(c["steps"]), key=lambda k: -max(e["steps"].get(k, 0), c["steps"].get(k, 0)))
    lines += ["", f"| step at {e['exams_per_day']:,}/day (seconds) | embedded | local-cluster | difference |"]
    lines.append("|---|---:|---:|---:|")
    for step in steps:
        a, b = e["steps"].get(step, float("nan")), c["steps"].get(step, float("nan"))
        lines.append(f"| {step} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    # Extrapolation: seconds = fixed + per_order x orders, per engine (a least-squares fit over the sizes). Only
    # the per-order part can spread over nodes; the fixed part (dbt start, Dagster steps, suites) does not.
    orders_per_exam = e["orders"] / (e["exams_per_day"] * e["days"])
    group_orders = GROUP_INSTITUTIONS * TARGET_EXAMS_PER_DAY * orders_per_exam
    lines.append("")
    for engine, runs in (("embedded", [p[0] for p in pairs]), ("local-cluster", [p[1] for p in pairs])):
        if len(runs) < 2:
            lines.append(f"- {engine}: the extrapolation needs two sizes or more (--sizes)")
            continue
        a, b = fit([float(r["orders"]) for r in runs], [r["pipeline_seconds"] for r in runs])
        how = f"fit over {len(runs)} sizes: {a:.1f} s + {1000 * b:.2f} s per 1,000 orders"
        if b <= 0 or a < 0:
            # The machine's load changed between runs more than the size changed the work: no figure.
            lines.append(f"- {engine} ({how}): no extrapolation, the fit is not a cost (a noisy machine)")
            continue
        one = a + b * group_orders
        lines.append(
            f"- {engine} ({how}): a group of {GROUP_INSTITUTIONS} institutions x {TARGET_EXAMS_PER_DAY:,} exams a "
            f"day (about {group_orders:,.0f} orders a day) on one such machine: {one / 60:,.1f} min"
            + (
                "; on N nodes like it, if the per-order part spreads evenly and the fixed part does not: "
                + ", ".join(f"N={n}: {(a + b * group_orders / n) / 60:,.1f} min" for n in (4, 10, 20))
                if engine == "local-cluster"
                else ""
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every size in its own process, then write the JSON and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,1500,6000", help="exams a day of the whole group, comma-separated")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--institutions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-scaling"))
    parser.add_argument("--out", type=Path, default=OUT / "scaling.json", help="where the measurements go (JSON)")
    parser.add_argument("--report", action="store_true", help="only print the report of the --out JSON")
    parser.add_argument(
        "--engines", default="embedded", help="'embedded', or 'embedded,local-cluster' to compare the two engines"
    )
    parser.add_argument("--sail-workers", type=int, default=3, help="workers of the local-cluster server")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    parser.add_argument("--spark", default="embedded", help=argparse.SUPPRESS)  # internal: engine of --one
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not set(engines) <= {"embedded", "local-cluster"}:
        parser.error("--engines takes embedded and/or local-cluster")
    compare = engines != ["embedded"]
    if compare and args.out == OUT / "scaling.json":
        args.out = OUT / "scaling_engines.json"

    if args.report:
        results = json.loads(args.out.read_text(encoding="utf-8"))
        print(report_engines(results, args.sail_workers) if compare else report(results))
        return 0

    if args.one is not None:
        workdir = args.workdir / (f"size-{args.one}" + ("" if args.spark == "embedded" else "-cluster"))
        if workdir.exists():
            import shutil

            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        print(json.dumps(run_one(args.one, args.days, args.institutions, workdir, args.seed, args.spark)))
        return 0

    results = []
    with contextlib.ExitStack() as stack:
        urls = {"embedded": "embedded"}
        if "local-cluster" in engines:
            from _sail import sail_cluster

            urls["local-cluster"], _ = stack.enter_context(
                sail_cluster(args.sail_workers, args.workdir / "sail-server.log")
            )
        for i, size in enumerate(int(s) for s in args.sizes.split(",")):
            # Alternate which engine goes first (ABBA): a machine whose load drifts favours neither.
            for engine in engines if i % 2 == 0 else engines[::-1]:
                print(f"scaling: {size:,} exams a day on {engine} ...", file=sys.stderr, flush=True)
                cmd = [sys.executable, __file__, "--one", str(size), "--days", str(args.days)]
                cmd += ["--institutions", str(args.institutions), "--seed", str(args.seed)]
                cmd += ["--workdir", str(args.workdir), "--spark", urls[engine]]
                env = {**os.environ, "RUST_LOG": "warn"}
                done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
                if done.returncode != 0:
                    print(done.stderr[-4000:], file=sys.stderr)
                    return done.returncode
                result = json.loads(done.stdout.strip().splitlines()[-1])
                print(
                    f"  {result['orders']:,} orders: pipeline {result['pipeline_seconds']:.1f} s, "
                    f"success {result['success']}",
                    file=sys.stderr,
                )
                results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(report_engines(results, args.sail_workers) if compare else report(results))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
