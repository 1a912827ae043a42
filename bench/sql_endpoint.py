"""Benchmark the SQL endpoint under load while the gold build publishes: latency, errors, the build's time.

Usage: ``.venv/bin/python bench/sql_endpoint.py [--config demo/radlake.yaml] [--clients 16] [--seconds 60]``.

Without ``--config`` a small demo is simulated and built into a temporary folder first. Then, in this one
process: the gold build (the Dagster asset: dbt into a new build, then publish) runs once with no reader (the
baseline), and once while ``--clients`` psycopg connections (threads of another process) send the dashboards'
queries (dashboards/charts.py) through ``radlake sql serve`` for ``--seconds``. Printed: queries, errors,
p50/p95/max latency, the two builds' wall and CPU seconds and their ratio, and the machine's load (uptime).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlake.config import Settings, load_settings  # noqa: E402

CLIENT = r"""
import json, sys, threading, time
import psycopg
port, password = sys.argv[1], sys.argv[2]
clients, seconds, queries = int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
latencies, errors, lock = [], [], threading.Lock()
def client(n):
    conn = psycopg.connect(host="127.0.0.1", port=port, dbname="warehouse", user="bench", password=password,
                           sslmode="disable", autocommit=True)
    end, i = time.monotonic() + seconds, n
    while time.monotonic() < end:
        sql = queries[i % len(queries)]; i += 1
        t0 = time.perf_counter()
        try:
            conn.execute(sql).fetchall()
            with lock: latencies.append(time.perf_counter() - t0)
        except Exception as exc:
            with lock: errors.append(str(exc).splitlines()[0][:200])
    conn.close()
threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"latencies": latencies, "errors": errors}))
"""


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def gold_build(settings: Settings) -> tuple[float, float]:
    """The gold asset as Dagster runs it; returns wall seconds and CPU seconds (this process + dbt's)."""
    import dagster as dg

    from orchestration.gold.dbt import dbt_gold_assets

    marts, dbt = dbt_gold_assets(settings)
    wall, cpu, cpu_children = time.perf_counter(), time.process_time(), _cpu_children()
    result = dg.materialize([marts], resources={"dbt": dbt}, raise_on_error=False)
    assert result.success, "the gold build failed"
    return time.perf_counter() - wall, time.process_time() - cpu + _cpu_children() - cpu_children


def dashboard_queries(settings: Settings) -> list[str]:
    """The dashboards' chart queries over the analysts' file, as the dashboards send them."""
    from dashboards.charts import CHARTS

    return sorted({c.sql.replace("{tz}", settings.timezone) for c in CHARTS})


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else (values or [0.0])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="radlake.yaml of a built lake (default: a small demo, built first)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    import asyncio
    import threading

    from sqlendpoint.accounts import create_account
    from sqlendpoint.server import SqlServer

    with tempfile.TemporaryDirectory() as tmp:
        if args.config:
            settings = load_settings(args.config)
        else:
            from orchestration.demo import run_demo

            print("building a small demo (2 institutions x 3 days x 150 exams) ...", flush=True)
            summary = run_demo(Path(tmp) / "demo", institutions=2, days=3, exams_per_day=150, seed=5)
            settings = load_settings(summary.config)
        settings = settings.model_copy(
            update={"sql": settings.sql.model_copy(update={"accounts": Path(tmp) / "accounts.yaml", "port": 0})}
        )
        password = create_account(settings, "bench", "analysts")
        queries = dashboard_queries(settings)

        alone_wall, alone_cpu = gold_build(settings)
        print(f"gold build, no readers: {alone_wall:.1f} s wall, {alone_cpu:.1f} s CPU", flush=True)

        loop = asyncio.new_event_loop()
        server = SqlServer(settings, host="127.0.0.1", port=0)
        port = loop.run_until_complete(server.start())
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        # The build runs in a thread; the clients start so that it publishes about halfway through their minute.
        built: list[tuple[float, float]] = []
        builder = threading.Thread(target=lambda: built.append(gold_build(settings)))
        build_started = time.perf_counter()
        builder.start()
        time.sleep(max(0.0, alone_wall - args.seconds / 2))
        clients_started = time.perf_counter()
        clients = subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(port), password, str(args.clients), str(args.seconds),
             json.dumps(queries)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        builder.join()
        published_at = time.perf_counter() - clients_started
        loaded_wall, loaded_cpu = built[0]
        out, _ = clients.communicate(timeout=args.seconds + 600)
        assert build_started <= clients_started
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)

    result = json.loads(out)
    lat = sorted(result["latencies"])
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nSQL endpoint: {args.clients} clients x {args.seconds:.0f} s, the dashboards' {len(queries)} queries")
    print(f"machine: {os.cpu_count()} cores; {load}")
    print("| figure | value |\n|---|---|")
    print(f"| queries answered | {len(lat)} ({len(lat) / args.seconds:.1f}/s) |")
    print(f"| errors | {len(result['errors'])} |")
    print(f"| latency p50 / p95 / max | {_percentile(lat, 0.5) * 1000:.0f} / {_percentile(lat, 0.95) * 1000:.0f} / "
          f"{(lat[-1] if lat else 0) * 1000:.0f} ms |")  # fmt: skip
    print(f"| gold build published at | {published_at:.1f} s into the clients' {args.seconds:.0f} s |")
    # CPU: this process (Dagster, and while loaded the endpoint's own threads) plus dbt's subprocesses.
    print(f"| gold build, no readers | {alone_wall:.1f} s wall, {alone_cpu:.1f} s CPU |")
    print(
        f"| gold build, {args.clients} clients querying | {loaded_wall:.1f} s wall, {loaded_cpu:.1f} s CPU "
        "(with the endpoint's) |"
    )
    print(f"| build wall ratio (loaded / alone) | {loaded_wall / alone_wall:.2f} |")
    if result["errors"]:
        print("first errors:", *sorted(set(result["errors"]))[:5], sep="\n  ")


if __name__ == "__main__":
    main()
