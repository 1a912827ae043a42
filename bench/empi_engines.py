"""Benchmark the EMPI's engines: DuckDB in process against Splink's Spark backend on Sail, on one registry.

Usage: ``.venv/bin/python bench/empi_engines.py [--records 50000,200000] [--spark embedded,cluster]
[--workers 2]``.

For each size, the bench writes the hard registry (:data:`simulator.people.HARD`, streamed by
:func:`simulator.people.write_registry`), trains one model on it (training always runs on DuckDB, see
:func:`transforms.empi.linkage.train_model`), and links the registry in a fresh process per engine (so peak
memory is each engine's own):

- ``duckdb``: the default engine, in process;
- ``spark embedded``: Sail started inside the linking process (its CPU is the process's);
- ``spark cluster``: a Sail server in local-cluster mode (driver and ``--workers`` workers in one server
  process, started by the bench; its CPU is added to the client's, its peak memory printed apart).

Printed per run: wall and CPU seconds, peak memory (largest RSS sampled every 50 ms), scored pairs, links,
persons, and against the DuckDB run: scored pairs at or above ``auto_link`` present in one run only, the
largest difference of a pair's match probability, and the records whose person (cluster) differs (records
of clusters that are not the same set of records in both runs). The load average is printed: the machine may
be shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def worker(registry: Path, model_path: Path, engine: str, url: str | None, out_dir: Path) -> dict[str, Any]:
    """Link ``registry`` with the saved model on one engine; runs inside a fresh process."""
    from empi import PeakRss, _cpu_seconds

    from transforms.empi.linkage import LinkageConfig, score_links
    from transforms.empi.master import link_patients

    logging.getLogger("splink").setLevel(logging.WARNING)
    records = pd.read_parquet(registry).drop(columns=["person_id"])
    records["birth_date"] = records["birth_date"].map(lambda d: None if pd.isna(d) else d)
    model = json.loads(model_path.read_text())
    config = LinkageConfig()
    if engine == "spark":
        from radlake.config import Settings
        from radlake.spark import spark_session

        settings = Settings() if url is None else Settings(spark=url)
        config = LinkageConfig(engine="spark", spark=spark_session(settings), spark_scratch=str(out_dir / "scratch"))
    captured: dict[str, pd.DataFrame] = {}

    def keep_pairs(*args: Any, **kwargs: Any) -> pd.DataFrame:
        captured["pairs"] = score_links(*args, **kwargs)
        return captured["pairs"]

    import transforms.empi.master as master

    master.score_links = keep_pairs  # the scored pairs, to compare engines pair by pair
    with PeakRss() as rss:
        cpu = _cpu_seconds()
        start = time.perf_counter()
        run = link_patients(records, model=model, config=config)
        wall = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
    captured["pairs"].to_parquet(out_dir / f"{engine}-{url is not None}-pairs.parquet")
    run.master[["record_id", "empi_id"]].to_parquet(out_dir / f"{engine}-{url is not None}-master.parquet")
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_gib": rss.peak / 2**30,
        "phases": run.timings,
        "stats": {k: int(v) for k, v in run.stats.items()},
    }


def _compare(out_dir: Path, name: str, auto_link: float) -> dict[str, float]:
    """Pairs above threshold and clusters of run ``name`` against the DuckDB run."""
    base_pairs = pd.read_parquet(out_dir / "duckdb-False-pairs.parquet")
    pairs = pd.read_parquet(out_dir / f"{name}-pairs.parquet")
    both = base_pairs.merge(pairs, on=["rid_l", "rid_r"], how="outer", suffixes=("_d", "_s"))
    linked_d = both["match_probability_d"].fillna(0) >= auto_link
    linked_s = both["match_probability_s"].fillna(0) >= auto_link
    shared = both.dropna(subset=["match_probability_d", "match_probability_s"])
    base = pd.read_parquet(out_dir / "duckdb-False-master.parquet")
    other = pd.read_parquet(out_dir / f"{name}-master.parquet")
    merged = base.merge(other, on="record_id", suffixes=("_d", "_s"))
    # A record's cluster is the same when its cluster in each run is the same set of records: the two ids
    # map one to one over all of its records.
    d_to_s = merged.groupby("empi_id_d")["empi_id_s"].transform("nunique")
    s_to_d = merged.groupby("empi_id_s")["empi_id_d"].transform("nunique")
    return {
        "pairs_linked_one_side": int((linked_d != linked_s).sum()),
        "max_probability_diff": float((shared["match_probability_d"] - shared["match_probability_s"]).abs().max()),
        "records_in_other_clusters": int(((d_to_s > 1) | (s_to_d > 1)).sum()) + abs(len(base) - len(merged)),
    }


def _run(args: list[str], server: Any = None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        start = server.cpu_times() if server is not None else None
        subprocess.run([sys.executable, __file__, *args, "--result", result.name], check=True, cwd=ROOT)
        out: dict[str, Any] = json.loads(Path(result.name).read_text())
        if server is not None:
            end = server.cpu_times()
            out["server_cpu"] = (end.user - start.user) + (end.system - start.system)
            out["cpu"] += out["server_cpu"]
            out["server_rss_gib"] = server.memory_info().rss / 2**30
        return out


def main() -> None:
    """Parse the command line, run each engine on each size, and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", default="50000,200000", help="comma-separated registry sizes")
    parser.add_argument("--spark", default="embedded,cluster", help="Sail modes: embedded, cluster or both")
    parser.add_argument("--workers", type=int, default=2, help="workers of the local cluster")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.result.write_text(json.dumps(worker(args.worker, args.model, args.engine, args.url, args.out)))
        return
    from _sail import sail_cluster

    from simulator.people import write_registry
    from transforms.empi.features import record_features
    from transforms.empi.linkage import LinkageConfig, train_model

    logging.getLogger("splink").setLevel(logging.WARNING)
    modes = [m for m in args.spark.split(",") if m]
    rows = []
    for n in (int(x) for x in args.records.split(",")):
        with tempfile.TemporaryDirectory(prefix="empi-engines-") as tmp:
            out = Path(tmp)
            registry = out / "registry.parquet"
            write_registry(registry, n, [f"h{i:02d}" for i in range(1, 9)], args.seed, hard=True)
            records = pd.read_parquet(registry).drop(columns=["person_id"])
            records["birth_date"] = records["birth_date"].map(lambda d: None if pd.isna(d) else d)
            model = out / "model.json"
            model.write_text(json.dumps(train_model(record_features(records))))
            del records
            common = ["--worker", str(registry), "--model", str(model), "--out", str(out)]
            runs = [("duckdb", "duckdb", _run([*common, "--engine", "duckdb"]) | {"load": os.getloadavg()[0]})]
            if "embedded" in modes:
                load = os.getloadavg()[0]
                runs.append(("spark embedded", "spark-False", _run([*common, "--engine", "spark"]) | {"load": load}))
            if "cluster" in modes:
                with sail_cluster(args.workers, out / "sail.log") as (url, server):
                    load = os.getloadavg()[0]
                    result = _run([*common, "--engine", "spark", "--url", url], server)
                    runs.append(("spark cluster", "spark-True", result | {"load": load}))
            base = runs[0][2]
            for label, name, result in runs:
                same = _compare(out, name, LinkageConfig().auto_link) if name != "duckdb" else {}
                rows.append((n, label, result, same, result["wall"] / base["wall"]))
                print(f"{n:,} {label}: {json.dumps(result | same)}", flush=True)
    print("\n| records | engine | wall s | CPU s | peak GiB | × DuckDB wall | pairs linked on one side | "
          "records in other clusters | load |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for _n, label, r, same, ratio in rows:
        peak = f"{r['peak_gib']:.2f}" + (f" + server {r['server_rss_gib']:.2f}" if "server_rss_gib" in r else "")
        print(
            f"| {r['stats']['records']:,} | {label} | {r['wall']:.1f} | {r['cpu']:.1f} | {peak} | {ratio:.2f} | "
            f"{same.get('pairs_linked_one_side', '-')} | {same.get('records_in_other_clusters', '-')} | "
            f"{r['load']:.1f} |"
        )


if __name__ == "__main__":
    main()
