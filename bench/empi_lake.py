"""Benchmark the lake's EMPI run (``radlake empi run``): out of core (now) beside the in-memory path (before).

Usage: ``.venv/bin/python bench/empi_lake.py [--records 200000] [--work /tmp/empi-lake-bench] [--memory-limit 1GB]``.

A hard registry of ``--records`` records (:func:`simulator.people.write_registry`, streamed to Parquet) is
written into a lake's CDC patient tables (``silver/ris_h01__patients`` ... ``ris_h08__patients``) through the
table handles, batch by batch. Two copies of that lake are then linked by a full run, each in a fresh Python
process (so each peak is the method's own):

- ``before``: the in-memory path (every record and the previous run in pandas, :func:`link_patients`), as
  ``run_empi`` ran on DuckDB until now;
- ``after``: ``run_empi`` on DuckDB: silver tables streamed into a Parquet registry, :func:`link_registry`,
  the outputs streamed back into silver, one commit per table.

Printed per method: wall and CPU seconds (user + system, DuckDB's threads included), peak RSS (the process's
own high-water mark), the load average before the run; then the ratio after/before and whether both lakes
hold the same master (record → empi_id), golden records and review queue. Runs that may pass 3 GiB must be
started under the shared lock: ``flock /work/wt/bigrun.lock .venv/bin/python bench/empi_lake.py ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INSTITUTIONS = [f"h{i:02d}" for i in range(1, 9)]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COLUMNS = ("mrn", "name", "sex", "birth_date", "id_number", "phone", "address")


def _settings(lake: Path, memory_limit: str | None) -> object:
    from radlake.config import Settings

    sources = {f"ris_{code}": {"dsn": "postgresql://localhost/none", "institution": code} for code in INSTITUTIONS}
    return Settings(lake=str(lake), sources=sources, empi={"memory_limit": memory_limit})


def build_lake(registry: Path, lake: Path, records: int) -> None:
    """The registry (generated once per size) written into the CDC patient tables in batches."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from radlake.lake import Lake
    from simulator.people import write_registry

    if not registry.is_file():
        write_registry(registry, records, INSTITUTIONS, seed=29, hard=True)
    settings = _settings(lake, None)
    for code in INSTITUTIONS:
        source = pq.ParquetFile(registry)
        schema = pa.schema([source.schema_arrow.field(c) for c in COLUMNS])

        def batches(code: str = code, source: pq.ParquetFile = source, schema: pa.Schema = schema) -> object:
            for batch in source.iter_batches(batch_size=200_000, columns=["source_system", *COLUMNS]):
                mine = batch.filter(pc.equal(batch.column("source_system"), code))
                yield pa.RecordBatch.from_arrays([mine.column(c) for c in COLUMNS], schema=schema)

        table = Lake(settings).cdc_state(f"ris_{code}", "patients", keys=("mrn",))  # type: ignore[arg-type]
        table.append(pa.RecordBatchReader.from_batches(schema, batches()), app_id="bench", txn_version=1)


def child(method: str, lake: Path, memory_limit: str | None) -> None:
    """One full run in this process; prints its figures as JSON."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    import threading

    import psutil

    from radlake.progress import Phase, Progress
    from transforms.empi import job

    peaks: dict[str, float] = {}
    current = ["start"]

    class Phases(Progress):
        def start(self, name: str, total: int | None = None) -> Phase:
            current[0] = name
            return super().start(name, total)

    stop = threading.Event()

    def sample() -> None:  # the largest RSS of each phase, sampled every 50 ms
        me = psutil.Process()
        while not stop.wait(0.05):
            rss = me.memory_info().rss / 2**30
            peaks[current[0]] = max(peaks.get(current[0], 0.0), rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    settings = _settings(lake, memory_limit)
    progress = Phases("", mode="off")
    wall, cpu = time.perf_counter(), time.process_time()
    if method == "before":
        run = job._run_in_memory(settings, "duckdb", None, 0, NOW, progress)  # type: ignore[arg-type]
    else:
        run = job.run_empi(settings, engine="duckdb", now=NOW, progress=progress)  # type: ignore[arg-type]
    stop.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "wall": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu,
                "peak_gib": usage.ru_maxrss / 2**20,
                "records": run.stats["records"],
                "persons": run.stats["persons"],
                "timings": {k: round(v, 1) for k, v in run.timings.items()},
                "phase_peak_gib": {k: round(v, 2) for k, v in peaks.items()},
            }
        )
    )


def _same(before: Path, after: Path) -> dict[str, bool]:
    """Whether the two lakes hold equal EMPI tables (read column by column)."""
    import pandas as pd

    from radlake.lake import Lake

    out = {}
    for name, key in (
        ("patient_master", ["record_id"]),
        ("patient_golden", ["empi_id"]),
        ("empi_review_queue", ["record_id_a", "record_id_b"]),
    ):
        frames = []
        for lake in (before, after):
            table = Lake(_settings(lake, None)).table("silver", name).read_arrow()  # type: ignore[arg-type]
            assert table is not None
            frames.append(table.to_pandas().sort_values(key, ignore_index=True))
        try:
            pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False)
            out[name] = True
        except AssertionError:
            out[name] = False
        del frames
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/empi-lake-bench"))
    parser.add_argument("--memory-limit", default=None, help="empi.memory_limit of the runs (DuckDB syntax)")
    parser.add_argument("--methods", default="before,after")
    parser.add_argument("--child", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.lake, args.memory_limit)
        return
    base = args.work / f"{args.records}" / "base"
    if not (base / "silver").is_dir():
        shutil.rmtree(base, ignore_errors=True)
        started = time.perf_counter()
        build_lake(args.work / f"registry-{args.records}.parquet", base, args.records)
        print(f"lake of {args.records:,} records built in {time.perf_counter() - started:.0f} s", flush=True)
    results = {}
    for method in args.methods.split(","):
        lake = args.work / f"{args.records}" / method
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(base / "silver", lake / "silver")
        load = os.getloadavg()
        command = [sys.executable, __file__, "--child", method, "--lake", str(lake), "--records", str(args.records)]
        if args.memory_limit:
            command += ["--memory-limit", args.memory_limit]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
        figures = results[method]
        print(
            f"{method:7s} records {figures['records']:>10,}  persons {figures['persons']:>10,}  "
            f"wall {figures['wall']:7.1f} s  CPU {figures['cpu']:7.1f} s  peak {figures['peak_gib']:5.2f} GiB  "
            f"(load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})",
            flush=True,
        )
        print(f"        phase seconds {figures['timings']}", flush=True)
        print(f"        phase peak GiB {figures['phase_peak_gib']}", flush=True)
    if {"before", "after"} <= results.keys():
        b, a = results["before"], results["after"]
        print(
            f"after/before: wall {a['wall'] / b['wall']:.2f}x  CPU {a['cpu'] / b['cpu']:.2f}x  "
            f"peak {a['peak_gib'] / b['peak_gib']:.2f}x"
        )
        root = args.work / f"{args.records}"
        print(f"same tables: {_same(root / 'before', root / 'after')}")


if __name__ == "__main__":
    main()
