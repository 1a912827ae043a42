"""Benchmark: the DICOM ingest against a bronze that already holds millions of landed files (the landing index).

Builds, in one run,

- lake E (empty): corpus A (``--n`` files) landed, nothing else;
- lake L (large): the same, plus ``--rows`` synthetic landed files written straight into bronze/dicom_files and
  bronze/dicom_instances through radlake/lake/ (realistic key sizes; UIDs in scattered order);

then times the same ingest into each (``radlake ingest dicom``, the CLI in a subprocess, workers as usual):
corpus B (``--n`` new files), a hard-linked copy of A under other paths (``--n`` already-landed instances: each
must come out a duplicate), and A itself (skipped by path, never read). It prints files/s, CPU, and peak
memory of the process tree (psutil, 20 ms polls), the ratio L/E, and the duplicates counted against the
expected number. The one-off build of the index for L (first start on a lake that predates it) is timed apart.

Run: ``.venv/bin/python bench/dicom_state.py [--rows 10000000] [--n 20000] [--workdir /tmp/radlake-state]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dicom_ingest import CHILD_ENV, _child_env, make_corpus, run_cli

CHUNK = 500_000


def synthetic_rows(lake_dir: Path, rows: int) -> float:
    """Append ``rows`` landed files to both bronze tables (one commit per table per CHUNK rows); seconds."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc

    from radlake import catalog, lake
    from radlake.config import Settings

    settings = Settings(lake=str(lake_dir))
    files_spec, inst_spec = catalog.table("bronze", "dicom_files"), catalog.table("bronze", "dicom_instances")
    assert files_spec.schema is not None and inst_spec.schema is not None
    started = time.perf_counter()
    for n, first in enumerate(range(0, rows, CHUNK), start=1):
        count = min(CHUNK, rows - first)
        i = pa.array(range(first, first + count), pa.int64())
        # Scatter the UIDs (a bijection on 32 bits): keys arrive in no order, as real SOP Instance UIDs do.
        scattered = pc.bit_wise_and(pc.multiply(i, 2654435761), 0xFFFFFFFF)
        study = pc.cast(pc.divide(i, 200), pa.string())
        root = "1.2.826.0.1.3680043.10.999."
        uid = pc.binary_join_element_wise(root, study, ".", pc.cast(scattered, pa.string()), "")
        path = pc.binary_join_element_wise(
            "/archive/pacs/2019/", study, "/", pc.utf8_lpad(pc.cast(i, pa.string()), 10, "0"), ".dcm", ""
        )
        sha = pc.utf8_lpad(pc.cast(scattered, pa.string()), 64, "0")
        day = dt.date(2019, 1, 1) + dt.timedelta(days=n)
        size = pa.array([520_000] * count, pa.int64())
        files = {
            "file_path": path,
            "file_size": size,
            "sha256": sha,
            "outcome": pa.array(["instance"] * count),
            "sop_instance_uid": uid,
            "source": pa.array(["folder"] * count),
            "ingest_date": pa.array([day] * count, pa.date32()),
        }
        inst = {
            "sop_instance_uid": uid,
            "study_instance_uid": pc.binary_join_element_wise("1.2.826.0.1.3680043.10.999.", study, ""),
            "modality": pa.array(["CT"] * count),
            "file_path": path,
            "file_sha256": sha,
            "file_size": size,
            "ingest_date": pa.array([day] * count, pa.date32()),
        }
        for spec, cols in ((inst_spec, inst), (files_spec, files)):
            assert spec.schema is not None
            table = pa.table(
                {f.name: cols.get(f.name, pa.nulls(count, f.type)) for f in spec.schema}, schema=spec.schema
            )
            uri = catalog.table_uri(settings, spec)
            lake.append_idempotent(
                settings, uri, table, app_id="bench:synthetic", txn_version=n, partition_by=spec.partition_by
            )
        print(f"    synthetic rows: {first + count:,} of {rows:,} ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


def build_index(lake_dir: Path) -> tuple[float, float, int, int]:
    """The first catch-up of a lake's index (what the first ingest after the upgrade pays): wall s, CPU s,
    peak RSS (this process, bytes), index size on disk (bytes)."""
    import resource

    from ingestion.dicom.landing_index import LandingIndex
    from radlake.config import Settings

    settings = Settings(lake=str(lake_dir))
    t, c = time.perf_counter(), time.process_time()
    index = LandingIndex(settings)
    index.catch_up()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    index.close()
    size = sum(p.stat().st_size for p in index.path.parent.glob(index.path.name + "*"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return wall, cpu, peak, size


def _in_child(fn, *args):
    """Run ``fn`` in a fresh process (its peak memory is then its own)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _outcomes(stdout: str) -> str:
    return next((line.strip() for line in stdout.splitlines() if " new (" in line), stdout.strip()[:200])


def run_cli_keep(roots: list[Path], lake_dir: Path) -> tuple[float, int, int, str, float]:
    """The CLI ingest into an existing lake, without roll-ups."""
    return run_cli(roots, lake_dir, ["--no-rollups"], fresh=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="synthetic landed files in the large lake")
    parser.add_argument("--n", type=int, default=20_000, help="new files, and already-landed files, per run")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-state"))
    args = parser.parse_args()
    work = args.workdir.resolve()
    corpus_a, corpus_b, copy_a = work / "corpus" / "a", work / "corpus" / "b", work / "corpus" / "a_copy"
    marker = work / "corpus" / f".n={args.n}"
    if not marker.exists():
        shutil.rmtree(work / "corpus", ignore_errors=True)
        t = time.perf_counter()
        make_corpus(corpus_a, args.n)
        make_corpus(corpus_b, args.n, first_study=50_000)
        for d, _, names in os.walk(corpus_a):
            target = copy_a / Path(d).relative_to(corpus_a)
            target.mkdir(parents=True, exist_ok=True)
            for name in names:
                os.link(Path(d) / name, target / name)
        marker.write_text("ok")
        print(f"generated corpus A and B ({args.n:,} files each) in {time.perf_counter() - t:.0f} s")
    CHILD_ENV.update(_child_env(work))
    n_a = sum(len(f) for _, _, f in os.walk(corpus_a))
    n_b = sum(len(f) for _, _, f in os.walk(corpus_b))

    empty, large = work / "lake_empty", work / "lake_large"
    large_marker = work / f".large-rows={args.rows}"
    if not large_marker.exists():
        shutil.rmtree(large, ignore_errors=True)
        print(f"writing {args.rows:,} synthetic landed files into {large} ...", flush=True)
        secs = synthetic_rows(large, args.rows)
        print(f"    done in {secs:.0f} s")
        b_wall, b_cpu, b_peak, b_size = _in_child(build_index, large)
        print(
            f"one-off index build over {args.rows:,} landed files: {b_wall:.0f} s wall, {b_cpu:.0f} s CPU, "
            f"peak {b_peak / 2**20:.0f} MiB, {b_size / 2**30:.2f} GiB on disk "
            f"({b_size / max(args.rows, 1):.0f} B per file)"
        )
        large_marker.write_text("ok")
    # Each timed run starts from the same state: A landed (a copy of the lake made before the run).
    results = {}
    for name, lake_dir in (("empty", empty), ("large", large)):
        base = work / f"{name}_with_a"
        if not (base / ".a_landed").exists():
            shutil.rmtree(base, ignore_errors=True)
            if lake_dir.exists():
                shutil.copytree(lake_dir, base)
            _, _, _, out, _ = run_cli_keep([corpus_a], base)
            print(f"landed A into the {name} lake: {_outcomes(out)}")
            (base / ".a_landed").write_text("ok")
        run_dir = work / f"{name}_run"
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(base, run_dir)
        wall, tree, one, out, cpu = run_cli_keep([corpus_b, copy_a, corpus_a], run_dir)
        results[name] = (wall, tree, one, out, cpu)
        shutil.rmtree(run_dir, ignore_errors=True)
    want = f"{n_a + n_b} new ({n_b} instance, {n_a} duplicate, 0 conflict, 0 reject)"
    print(f"\nload average {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores")
    print("| bronze before the run | files/s (wall) | files per CPU-s | peak RSS, tree | largest process | outcomes |")
    print("|---|---|---|---|---|---|")
    for name, (wall, tree, one, out, cpu) in results.items():
        size = n_a if name == "empty" else n_a + args.rows
        exact = "exact" if want in out else f"WRONG: {_outcomes(out)}"
        print(
            f"| {size:,} landed files | {(n_a + n_b) / wall:,.0f} | {(n_a + n_b) / cpu:,.0f} | "
            f"{tree / 2**20:,.0f} MiB | {one / 2**20:,.0f} MiB | {exact} |"
        )
    ratio = results["empty"][0] / results["large"][0]
    print(
        f"files/s large / empty: {ratio:.2f} (target >= {1 / 1.2:.2f}); CPU large / empty: "
        f"{results['large'][4] / results['empty'][4]:.2f}"
    )


if __name__ == "__main__":
    main()
