"""Benchmark the patient master index: link a synthetic registry, report speed, memory and pairwise accuracy.

Usage: ``.venv/bin/python bench/empi.py [--records 1000000] [--institutions 8] [--seed 7] [--engine duckdb]``.

Generates a registry with :func:`simulator.people.generate_registry` (not timed), links it with
:func:`transforms.empi.master.link_patients` (a full run: feature extraction, model training, scoring,
clustering, golden records), and prints

- records/s and wall time of the link, split into phases;
- peak memory: the largest resident set size (RSS) of this process sampled every 50 ms by a psutil thread
  while linking, and ``resource.getrusage`` ``ru_maxrss`` over the whole process (generation included);
- pairwise precision, recall and F1 against the generator's ``person_id`` (a pair of records is a true
  link when both belong to one person);
- the same figures for two naive baselines on the same data: exact name + birth date, and the ID number
  alone (records with equal non-empty ID text), and the F1 ratio of the EMPI over each;
- an incremental run: ``--incremental N`` records (default 10,000) are held back from the first run and
  linked afterwards against the first run's master (only pairs with a new record are scored), with its
  wall time, the records whose empi_id changed and the events it wrote.

CPU time is user + system time of the process (``resource.getrusage``), threads included (DuckDB's).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.people import generate_registry
from transforms.empi.linkage import LinkageConfig
from transforms.empi.master import link_patients

RECORDS_PER_PERSON = 1.49  # what the generator yields on average with 8 institutions


class PeakRss:
    """Sample this process's resident set size in a thread; ``peak`` holds the largest value in bytes."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, psutil.Process().memory_info().rss)


def _pair_count(labels: pd.Series) -> int:
    sizes = labels.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(truth: pd.Series, predicted: pd.Series) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering (``None`` in ``predicted``: a record alone)."""
    predicted = predicted.astype(object).copy()
    alone = predicted.isna()
    predicted[alone] = [f"__alone_{i}" for i in range(int(alone.sum()))]
    predicted = predicted.astype(str)
    true_pos = _pair_count(truth.astype(str) + "\x1f" + predicted)
    found = _pair_count(predicted)
    actual = _pair_count(truth)
    precision = true_pos / found if found else 1.0
    recall = true_pos / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="about this many records (default 1e6)")
    parser.add_argument("--institutions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--incremental", type=int, default=10_000, help="records held back for a second run")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="spark: Sail in process")
    args = parser.parse_args(argv)
    logging.getLogger("splink").setLevel(logging.WARNING)

    institutions = [f"h{i:02d}" for i in range(1, args.institutions + 1)]
    load = os.getloadavg()  # other processes share the machine: say how busy it was
    start = time.perf_counter()
    registry = generate_registry(round(args.records / RECORDS_PER_PERSON), institutions, seed=args.seed)
    generated = time.perf_counter() - start
    print(f"registry: {len(registry):,} records of {registry['person_id'].nunique():,} persons "
          f"at {len(institutions)} institutions, generated in {generated:.1f} s")  # fmt: skip

    records = registry.drop(columns=["person_id"])
    config = LinkageConfig()
    if args.engine == "spark":
        from radlake.config import Settings
        from radlake.spark import spark_session

        config = LinkageConfig(engine="spark", spark=spark_session(Settings()))
    held_back = min(args.incremental, len(records) // 10)
    with PeakRss() as rss:
        cpu = _cpu_seconds()
        start = time.perf_counter()
        run = link_patients(records, config=config)
        wall = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    print(f"link: {wall:.1f} s wall, {len(registry) / wall:,.0f} records/s, {cpu:.1f} s CPU ({phases})")
    print(f"peak memory: {rss.peak / 2**30:.2f} GiB RSS while linking (psutil, sampled every 50 ms); "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB max RSS of the process "
          "(getrusage, generation included)")  # fmt: skip
    print(f"engine: Splink on {args.engine}; cpu cores: {psutil.cpu_count(logical=True)}; "
          f"load average before: {load[0]:.1f}; stats: {run.stats}")  # fmt: skip

    truth = registry["person_id"]
    empi = registry[["record_id"]].merge(run.master[["record_id", "empi_id"]], on="record_id")["empi_id"]
    p, r, f = pairwise_scores(truth, empi)
    print(f"EMPI                      precision {p:.4f}  recall {r:.4f}  F1 {f:.4f}")
    name_dob = registry["name"].astype(str) + "|" + registry["birth_date"].astype(str)
    name_dob = name_dob.where(registry["name"].notna() & registry["birth_date"].notna(), None)
    for label, keys in (("exact name + birth date", name_dob), ("ID number alone", registry["id_number"])):
        bp, br, bf = pairwise_scores(truth, keys)
        print(f"{label:<25} precision {bp:.4f}  recall {br:.4f}  F1 {bf:.4f}  (EMPI F1 / this = {f / bf:.2f})")
    if held_back:
        _incremental(records, held_back, run.model, config)
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _incremental(records: pd.DataFrame, held_back: int, model: dict, config: LinkageConfig) -> None:
    """Link all but ``held_back`` records, then the rest incrementally; print the second run's figures."""
    first = records.iloc[:-held_back]
    base = link_patients(first, model=model, config=config)
    cpu = _cpu_seconds()
    start = time.perf_counter()
    second = link_patients(
        records, previous_master=base.master, previous_events=base.events, model=model, config=config
    )
    wall = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    before = base.master.set_index("record_id")["empi_id"]
    after = second.master.set_index("record_id")["empi_id"].reindex(before.index)
    events = second.events["event"].value_counts().to_dict()
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in second.timings.items())
    print(f"incremental: {held_back:,} new records on top of {len(first):,}: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({phases}); {second.stats['pairs_scored']:,} pairs scored; existing records whose empi_id changed: "
          f"{int((before != after).sum()):,}; events {events}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
