"""Benchmark: weeks of streaming commits in scaled form, then lake upkeep, against a freshly written lake.

A CDC sensor commits every 30 s and a DICOM watch folder every tick: each commit leaves a small file and a
log entry. This bench builds a small simulated group with the real pipeline, then makes ``--commits`` small
commits spread over the tables streaming writers touch, the way they touch them:

- a DICOM tick lands one instance: one append to ``bronze/dicom_files`` and one to ``bronze/dicom_instances``;
- a CDC tick appends a change to a source's change log and MERGEs it into its silver state table.

Every ``--every`` commits it prints files per table, the ``_delta_log`` size, the time to read
``silver/exams`` and the time of the nightly silver + gold build (which also commits, as nights do). Then it
runs ``radlake lake maintain`` and measures again, and measures a fresh lake holding the same rows (each table
written in one commit). Target: after upkeep, read and build within 1.2x of the fresh lake. Last, it streams
again with upkeep every ``--maintain-every`` commits (the scheduled job on), to show the curve stays flat.

Run: ``.venv/bin/python bench/months.py [--commits 20000] [--every 5000] [--workdir /tmp/radlake-months]``.
Results: ``bench/out/months.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from radlake import catalog, lake  # noqa: E402
from radlake.config import Settings, load_settings, write_settings  # noqa: E402

OUT = ROOT / "bench" / "out"
CDC_TABLE = "exam_records"
STATE_KEY = "record_id"  # the simulated RIS table's primary key


def _files_and_log(settings: Settings) -> tuple[dict[str, int], int, int]:
    """Live data files per table, and the total file count and bytes of every ``_delta_log``."""
    from radlake import maintenance

    files, log_files, log_bytes = {}, 0, 0
    for key in maintenance.lake_tables(settings):
        layer, _, name = key.partition("/")
        uri = catalog.uri(settings, layer, name)  # type: ignore[arg-type]
        files[key] = len(lake.open_table(settings, uri).file_uris())
        sizes = lake.list_sizes(settings, f"{uri}/_delta_log")
        log_files, log_bytes = log_files + len(sizes), log_bytes + sum(sizes.values())
    return files, log_files, log_bytes


def _read_seconds(settings: Settings, repeats: int = 3) -> float:
    """Best of ``repeats`` full reads of silver/exams through Spark (Sail), rows pulled to the client."""
    from radlake.spark import spark_session

    spark = spark_session(settings)
    uri = catalog.table_uri(settings, catalog.table("silver", "exams"))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        spark.read.format("delta").load(uri).toArrow()
        best = min(best, time.perf_counter() - t0)
    return best


def _nightly_build_seconds(settings: Settings, home: Path, first: date, last: date) -> float:
    """Wall time of the nightly run's silver and gold assets (the CDC and DICOM landings excluded)."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.instance import prepare_dagster_home
    from orchestration.partitions import range_tags
    from orchestration.schedules import NIGHTLY_JOB

    prepare_dagster_home(home)
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    selection = [
        k
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable and k.path[0] in ("silver", "gold") and "__" not in k.path[-1]
    ]
    job = defs.resolve_job_def(NIGHTLY_JOB)
    t0 = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=selection,
            raise_on_error=False,
            tags=range_tags(first, last),
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )
    if not result.success:
        raise SystemExit("the nightly silver/gold build failed: figures of a failed run are not printed")
    return time.perf_counter() - t0


class Streamer:
    """Makes the small commits streaming writers make, through the lake module."""

    def __init__(self, settings: Settings, source: str, merge_every: int = 1) -> None:
        from radlake.spark import spark_session

        self.settings, self.spark, self.n = settings, spark_session(settings), 0
        # One silver MERGE per ``merge_every`` change-log appends (a sync MERGEs what its batches brought).
        self.merge_every, self.cdc_ticks = merge_every, 0
        self.files = lake.read_arrow(settings, catalog.table_uri(settings, catalog.table("bronze", "dicom_files")))
        self.instances = lake.read_arrow(
            settings, catalog.table_uri(settings, catalog.table("bronze", "dicom_instances"))
        )
        name = catalog.cdc_table_name(source, CDC_TABLE)
        self.log_uri = catalog.uri(settings, "bronze", name)
        self.state_uri = catalog.uri(settings, "silver", name)
        self.log = lake.read_arrow(settings, self.log_uri)
        self.state = lake.read_arrow(settings, self.state_uri)
        self.state_keys = [STATE_KEY]

    def _one(self, table: pa.Table, i: int, **fresh: str) -> pa.Table:
        row = table.slice(i % table.num_rows, 1)
        for column, value in fresh.items():
            idx = row.schema.get_field_index(column)
            row = row.set_column(idx, row.schema.field(idx), pa.array([value], row.schema.field(idx).type))
        return row

    def dicom_tick(self) -> int:
        i = self.n
        uid = f"2.25.{10**12 + i}"
        path = f"/bench/stream/{i}.dcm"
        files = self._one(self.files, i, file_path=path)
        if "sop_instance_uid" in files.schema.names:
            files = self._one(files, 0, sop_instance_uid=uid)
        instances = self._one(self.instances, i, sop_instance_uid=uid)
        if "file_path" in instances.schema.names:
            instances = self._one(instances, 0, file_path=path)
        for spec_name, rows in (("dicom_files", files), ("dicom_instances", instances)):
            spec = catalog.table("bronze", spec_name)
            lake.append_idempotent(
                self.settings,
                catalog.table_uri(self.settings, spec),
                rows,
                app_id="bench:months",
                txn_version=i,
                partition_by=spec.partition_by,
            )
        self.n += 1
        return 2

    def cdc_tick(self) -> int:
        i = self.n
        change = self.log.slice(i % self.log.num_rows, 1)
        lake.append_idempotent(
            self.settings,
            self.log_uri,
            change,
            app_id="bench:months-cdc",
            txn_version=i,
            partition_by=catalog.CDC_LOG_PARTITION_BY,
        )
        self.n += 1
        if self.cdc_ticks % self.merge_every:
            self.cdc_ticks += 1
            return 1
        self.cdc_ticks += 1
        # The same row again, unchanged: silver gets what a sync's MERGE leaves (a rewritten file, a tombstone).
        row = self.state.slice(i % self.state.num_rows, 1)
        lake.merge(
            self.spark,
            self.spark.createDataFrame(row.to_pandas()),
            self.state_uri,
            self.state_keys,
            settings=self.settings,
        )
        return 2


def _measure(label: str, settings: Settings, home: Path, first: date, last: date, commits: int) -> dict[str, Any]:
    files, log_files, log_bytes = _files_and_log(settings)
    point = {
        "label": label,
        "commits": commits,
        "files_total": sum(files.values()),
        "files_per_table": files,
        "log_files": log_files,
        "log_mib": round(log_bytes / 1048576, 2),
        "read_exams_s": round(_read_seconds(settings), 3),
        "build_s": round(_nightly_build_seconds(settings, home, first, last), 1),
    }
    print(
        f"{label:<28} commits={commits:>6} files={point['files_total']:>6} log files={log_files:>6} "
        f"log MiB={point['log_mib']:>7} read silver/exams={point['read_exams_s']:.3f}s build={point['build_s']}s",
        flush=True,
    )
    return point


def _fresh_copy(settings: Settings, workdir: Path) -> Settings:
    """The same rows in a new lake, each table written in one commit (what a lake without history looks like)."""
    from radlake import maintenance

    fresh = workdir / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    raw = json.loads(json.dumps(settings.model_dump(mode="json", by_alias=True, exclude_none=True)))
    raw["lake"] = str(fresh / "lake")
    raw["warehouse"] = str(fresh / "gold" / "radlake.duckdb")
    raw.pop("stewards_warehouse", None)
    config = write_settings(raw, fresh / "radlake.yaml")
    copy = load_settings(config)
    for key in maintenance.lake_tables(settings):
        layer, _, name = key.partition("/")
        src = catalog.uri(settings, layer, name)  # type: ignore[arg-type]
        partitions = lake.open_table(settings, src).metadata().partition_columns
        data = lake.read_arrow(settings, src)
        lake.append_idempotent(
            copy,
            catalog.uri(copy, layer, name),
            data,
            app_id="bench:fresh",
            txn_version=0,  # type: ignore[arg-type]
            partition_by=partitions,
        )
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--maintain-every", type=int, default=2_000)
    parser.add_argument("--flat-commits", type=int, default=8_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-months"))
    parser.add_argument("--exams-per-day", type=int, default=150)
    parser.add_argument("--merge-every", type=int, default=5, help="change-log appends per silver MERGE")
    parser.add_argument(
        "--resume", action="store_true", help="continue a run stopped after its upkeep: fresh lake and upkeep phase"
    )
    args = parser.parse_args()

    from orchestration.demo import run_demo, simulated_days
    from radlake.maintenance import maintain

    if not args.resume:
        shutil.rmtree(args.workdir, ignore_errors=True)
        t0 = time.perf_counter()
        summary = run_demo(args.workdir, institutions=2, days=3, exams_per_day=args.exams_per_day, seed=5)
        if not summary.success:
            raise SystemExit("the demo run failed")
        print(f"set-up: simulated group and first pipeline run in {time.perf_counter() - t0:.0f} s", flush=True)
    settings = load_settings(args.workdir / "radlake.yaml")
    home = args.workdir / ".dagster"
    first, _ = simulated_days(args.workdir)
    today = date.today()
    source = sorted(settings.sources)[0]
    streamer = Streamer(settings, source, args.merge_every)
    if args.resume:
        # Batch numbers go on from the stopped run's (a replayed number would be skipped as already landed).
        done = [
            lake.committed_version(settings, uri, app) or 0
            for uri, app in (
                (catalog.table_uri(settings, catalog.table("bronze", "dicom_files")), "bench:months"),
                (streamer.log_uri, "bench:months-cdc"),
            )
        ]
        streamer.n = max(done) + 1
    points = [] if args.resume else [_measure("start", settings, home, first, today, 0)]

    total = 0  # commits streamed so far, over both phases

    def stream(count: int, maintain_every: int = 0) -> None:
        nonlocal total
        made = since = 0
        mark = args.every
        t = time.perf_counter()
        while made < count:
            step = streamer.dicom_tick() if streamer.n % 2 == 0 else streamer.cdc_tick()
            made, since, total = made + step, since + step, total + step
            if maintain_every and since >= maintain_every:
                maintain(settings)
                since = 0
            if made >= mark or made >= count:
                mark += args.every
                rate = made / (time.perf_counter() - t)
                label = f"streamed{' + upkeep' if maintain_every else ''} ({rate:.0f} commits/s)"
                points.append(_measure(label, settings, home, first, today, total))

    if args.resume:  # the streamed figures are the stopped run's: its upkeep already ran
        total, upkeep_s = args.commits, 0.0
    else:
        stream(args.commits)
        t = time.perf_counter()
        reports = maintain(settings)
        upkeep_s = time.perf_counter() - t
        print(f"lake maintain: {len(reports)} tables in {upkeep_s:.1f} s", flush=True)
    after = _measure("after lake maintain", settings, home, first, today, total)
    points.append(after)
    fresh = _measure(
        "fresh lake, same rows",
        _fresh_copy(settings, args.workdir),
        args.workdir / "fresh" / ".dagster",
        first,
        today,
        total,
    )
    points.append(fresh)
    ratios = {
        "read_after_vs_fresh": round(after["read_exams_s"] / fresh["read_exams_s"], 2),
        "build_after_vs_fresh": round(after["build_s"] / fresh["build_s"], 2),
    }
    if len(points) >= 3:
        ratios["read_before_vs_fresh"] = round(points[-3]["read_exams_s"] / fresh["read_exams_s"], 2)
        ratios["build_before_vs_fresh"] = round(points[-3]["build_s"] / fresh["build_s"], 2)
    print(f"ratios against the fresh lake: {ratios}", flush=True)
    stream(args.flat_commits, maintain_every=args.maintain_every)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "months.json").write_text(json.dumps({"points": points, "ratios": ratios, "upkeep_s": upkeep_s}, indent=1))
    print("\n| point | commits | files | log files | log MiB | read silver/exams s | silver+gold build s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for p in points:
        print(
            f"| {p['label']} | {p['commits']} | {p['files_total']} | {p['log_files']} | {p['log_mib']} | "
            f"{p['read_exams_s']} | {p['build_s']} |"
        )


if __name__ == "__main__":
    main()
