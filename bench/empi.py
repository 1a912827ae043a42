"""Benchmark the patient master index: the current method beside the previous one, on the same registries.

Usage: ``.venv/bin/python bench/empi.py [--records 1000000[,3000000,...]] [--registry both|standard|hard]
[--baseline REV] [--incremental 10000] [--engine duckdb] [--min-free-gib 14] [--registry-dir DIR]
[--work-dir DIR [--reuse-full]]``.

At 10M: ``flock /work/wt/bigrun.lock .venv/bin/python bench/empi.py --records 10000000 --registry hard
--current-only --incremental 100000 --min-free-gib 12 --work-dir /tmp/empi-work`` (the work folder keeps the
full run, so ``--reuse-full`` times another incremental run against it without linking ten million again).

Several ``--records`` sizes print a scaling table at the end (records, wall, CPU, peak memory, precision,
recall, review queue, pair completeness). Registries are streamed to Parquet by
:func:`simulator.people.write_registry` (bounded memory); a size above 3M records runs only when the machine
has ``--min-free-gib`` available (it is shared), and is otherwise reported as skipped.

For each registry (the standard simulated one, and the hard one of issue 16: a narrow pool of given-name
characters, 8% of persons in twin or parent–child pairs sharing phone and address, a quarter of addresses
shortened or blank, see :data:`simulator.people.HARD`) the bench generates ``--records`` records plus
``--incremental`` more (not timed), writes them to a temporary Parquet file, and runs two methods on that same
file, each in a fresh Python process (so peak memory is each method's own):

- ``previous``: the EMPI as of git revision ``--baseline`` (exported with ``git archive``);
- ``current``: the EMPI of this working tree.

Each run links the first ``--records`` records (a full run: features, blocking, training, scoring,
clustering, golden records, review queue), then links the held-back records incrementally into that index
with the saved model. Printed side by side:

- wall time split into phases, records/s, CPU seconds (user + system of the process, DuckDB's threads
  included), peak memory (largest RSS sampled every 50 ms while linking);
- pairs each blocking rule brings together on its own, and the share of true pairs each proposes (pair
  completeness: recall can be no higher than the share all rules together propose);
- pairwise precision, recall and F1 against the generator's ``person_id`` (a pair of records is a true link
  when both belong to one person), and the review queue (pairs, and per record);
- the incremental run: wall time, and the existing records whose empi_id changed, split into those of persons
  that got a new record (may merge) and the untouched rest (must be 0);
- two naive baselines on the same data (exact name + birth date; the ID number alone).

The load average before each run is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = "e93f45d"
"""The revision of the previous method: main before issue 16's work on the EMPI."""
# The previous method's blocking rules, for its pair counts (it did not expose them).
_PREVIOUS_KEYS = (
    ("name_py", "birth_year"), ("phone",), ("birth_date", "surname_py"), ("birth_date", "given_py"), ("id18",),
    ("address", "surname_py"), ("substr(id_text, 1, 14)",),
)  # fmt: skip


class PeakRss:
    """Sample this process's resident set size in a thread; ``peak`` holds the largest value in bytes."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.phase = ""
        self.phase_peaks: dict[str, int] = {}

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            rss = proc.memory_info().rss
            self.peak = max(self.peak, rss)
            self.phase_peaks[self.phase] = max(self.phase_peaks.get(self.phase, 0), rss)
            self._stop.wait(self.interval)

    def progress(self) -> Any:
        """A silent :class:`radlake.progress.Progress` that tells this sampler the phase, and keeps each phase's
        CPU seconds in ``cpu``."""
        from radlake.progress import Progress

        sampler = self

        class Tagging(Progress):
            cpu: dict[str, float] = {}  # noqa: RUF012

            def start(self, name: str, total: int | None = None) -> Any:
                sampler.phase = name
                self.cpu[name] = self.cpu.get(name, 0.0) - _cpu_seconds()
                return super().start(name, total)

            def finish(self, step: Any, *, failed: bool = False) -> None:
                self.cpu[step.name] += _cpu_seconds()
                super().finish(step, failed=failed)
                # As it goes, for a run that may be cut short: the phase, its wall and CPU seconds, peak RSS.
                peak = sampler.phase_peaks.get(step.name, 0) / 2**30
                print(f"  {time.strftime('%H:%M:%S')} {step.name}: {step.seconds:.1f} s, "
                      f"CPU {self.cpu[step.name]:.1f} s, peak {peak:.2f} GiB, load {os.getloadavg()[0]:.1f}",
                      file=sys.stderr, flush=True)  # fmt: skip

        return Tagging("bench", mode="off")

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
    predicted = predicted.astype(str).reset_index(drop=True)
    truth = truth.astype(str).reset_index(drop=True)
    true_pos = _pair_count(truth + "\x1f" + predicted)
    found = _pair_count(predicted)
    actual = _pair_count(truth)
    precision = true_pos / found if found else 1.0
    recall = true_pos / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rule_counts(features: pd.DataFrame) -> dict[str, int]:
    try:
        from transforms.empi.linkage import blocking_pair_counts
    except ImportError:
        counts = {}
        for keys in _PREVIOUS_KEYS:
            frame = pd.DataFrame(
                {k: features["id_text"].str[:14] if k.startswith("substr") else features[k] for k in keys}
            ).dropna()
            sizes = frame.value_counts(sort=False).to_numpy()
            counts[" & ".join(keys)] = int((sizes * (sizes - 1) // 2).sum())
        return counts
    return blocking_pair_counts(features)


def _pairs_sql(column: str, source: str) -> str:
    """SQL: the record pairs that share a value of ``column`` (null: alone) in ``source``."""
    return (
        f"select coalesce(sum(c * (c - 1) // 2), 0) from (select count(*) as c from {source} "
        f"where {column} is not null group by {column})"
    )


def out_of_core_worker(registry_path: Path, held_back: int, memory_limit: str, reuse: bool = False) -> dict[str, Any]:
    """Measure :func:`transforms.empi.outofcore.link_registry` on one registry, from Parquet to Parquet.

    The registry is shuffled and split by DuckDB (never held in this process): the first records are linked
    (a full run), then all of them (the held-back records linked incrementally into that index). Precision,
    recall and the ids that changed are counted by DuckDB over the output files. With ``reuse``, a full run
    kept in the work folder (``full.json``, ``model.json``, ``run1``) is not run again: only the incremental one.
    """
    import duckdb

    from transforms.empi.linkage import LinkageConfig
    from transforms.empi.outofcore import RegistryFiles, RegistryRun, link_registry

    logging.getLogger("splink").setLevel(logging.WARNING)
    work = registry_path.with_suffix(".work")
    spill = work / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill)})
    if not (work / "truth.parquet").is_file():  # else kept from an earlier run (--work-dir)
        src = f"read_parquet('{registry_path}')"
        # Shuffled: the held-back records are new registrations of any person.
        con.execute(
            f"create table shuffled as select row_number() over (order by hash(record_id, 7)) - 1 as ord, * from {src}"
        )
        for name, where in (("first", f"ord < (select count(*) - {held_back} from shuffled)"), ("all", "true")):
            con.execute(
                f"copy (select * exclude (ord, person_id) from shuffled where {where} order by ord) "
                f"to '{work / name}.parquet' (format parquet)"
            )
        con.execute(
            f"copy (select record_id, person_id, ord from shuffled) to '{work / 'truth'}.parquet' (format parquet)"
        )
    total = con.execute(f"select count(*) from read_parquet('{work / 'truth'}.parquet')").fetchone()[0]  # type: ignore[index]
    first_n = total - held_back
    con.close()  # its memory is not this run's
    config = LinkageConfig(memory_limit=memory_limit, temp_directory=str(spill))
    if reuse and (work / "full.json").is_file():
        out: dict[str, Any] = json.loads((work / "full.json").read_text())
        run = RegistryRun(RegistryFiles(work / "run1"), json.loads((work / "model.json").read_text()), {}, {}, {})
        print(f"full run of {first_n:,} records kept from before", file=sys.stderr, flush=True)
    else:
        out, run = _full_run(work, config, first_n)
    truth = f"read_parquet('{work / 'truth'}.parquet')"
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill)})

    def scores(master: Path, where: str) -> tuple[float, float, float]:
        joined = (
            f"(select t.person_id, m.empi_id from read_parquet('{master}') as m join {truth} as t "
            f"using (record_id) where {where})"
        )
        con.execute(f"create or replace temp view scored as {joined}")
        tp = con.execute(_pairs_sql("person_id || '|' || empi_id", "scored")).fetchone()[0]  # type: ignore[index]
        found = con.execute(_pairs_sql("empi_id", "scored")).fetchone()[0]  # type: ignore[index]
        actual = con.execute(_pairs_sql("person_id", "scored")).fetchone()[0]  # type: ignore[index]
        p = tp / found if found else 1.0
        r = tp / actual if actual else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    if "precision" not in out:
        out["precision"], out["recall"], out["f1"] = scores(run.files.master, "true")
        # Kept (and shown now): a long incremental run after it may be cut short.
        (work / "full.json").write_text(json.dumps(out))
        (work / "model.json").write_text(json.dumps(run.model))
        print(f"full run of {first_n:,} records: {json.dumps(out)}", file=sys.stderr, flush=True)
    if held_back:
        load = os.getloadavg()[0]
        con.close()
        with PeakRss() as rss2:
            progress2 = rss2.progress()
            cpu = _cpu_seconds()
            start = time.perf_counter()
            second = link_registry(
                work / "all.parquet",
                work / "run2",
                previous=run.files,
                model=run.model,
                config=config,
                progress=progress2,
            )
            wall = time.perf_counter() - start
            cpu2 = _cpu_seconds() - cpu
        con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill)})
        changed = con.execute(
            f"select count(*) filter (where t.person_id in (select person_id from {truth} where ord >= {first_n})), "
            f"count(*) filter (where t.person_id not in (select person_id from {truth} where ord >= {first_n})) "
            f"from read_parquet('{run.files.master}') as a join read_parquet('{second.files.master}') as b "
            f"using (record_id) join {truth} as t using (record_id) where a.empi_id <> b.empi_id"
        ).fetchone()
        events = con.execute(
            f"select event, count(*) from read_parquet('{second.files.events}') group by event order by event"
        ).fetchall()
        p2, r2, f2 = scores(second.files.master, "true")
        print(f"incremental run: {wall:.1f} s wall, {cpu2:.1f} s CPU, {second.timings}", file=sys.stderr, flush=True)
        out["incremental"] = {
            "new": held_back,
            "load_before": load,
            "wall": wall,
            "cpu": cpu2,
            "peak_gib": rss2.peak / 2**30,
            "phases": second.timings,
            "phase_cpu": dict(progress2.cpu),
            "phase_peaks_gib": {k: v / 2**30 for k, v in rss2.phase_peaks.items() if k},
            "pairs_scored": int(second.stats["pairs_scored"]),
            "changed_touched": int(changed[0]),  # type: ignore[index]
            "changed_untouched": int(changed[1]),  # type: ignore[index]
            "events": {str(k): int(v) for k, v in events},
            "precision": p2,
            "recall": r2,
            "f1": f2,
        }
    con.close()
    return out


def _full_run(work: Path, config: Any, first_n: int) -> tuple[dict[str, Any], Any]:
    """The full run of the first ``first_n`` records into ``work/run1``: its figures and its result."""
    from transforms.empi.outofcore import link_registry

    out: dict[str, Any] = {"records": first_n, "load_before": os.getloadavg()[0], "memory_limit": config.memory_limit}
    with PeakRss() as rss:
        progress = rss.progress()
        cpu = _cpu_seconds()
        start = time.perf_counter()
        run = link_registry(work / "first.parquet", work / "run1", config=config, progress=progress)
        out["wall"] = time.perf_counter() - start
        out["cpu"] = _cpu_seconds() - cpu
    out["load_after"] = os.getloadavg()[0]
    out["peak_gib"] = rss.peak / 2**30
    out["phases"] = run.timings
    out["phase_cpu"] = dict(progress.cpu)
    out["phase_peaks_gib"] = {k: v / 2**30 for k, v in rss.phase_peaks.items() if k}
    out["stats"] = run.stats
    out["blocking"] = run.blocking
    out["review_pairs"] = run.stats["review_pairs"]
    return out, run


def worker(registry_path: Path, held_back: int, engine: str) -> dict[str, Any]:
    """Measure the EMPI importable from ``sys.path`` on one registry; runs inside a fresh process."""
    from transforms.empi.features import record_features
    from transforms.empi.linkage import LinkageConfig
    from transforms.empi.master import link_patients

    logging.getLogger("splink").setLevel(logging.WARNING)
    registry = pd.read_parquet(registry_path)
    # The held-back records are the last ones of a shuffled registry: new registrations of any person.
    registry = registry.sample(frac=1.0, random_state=7).reset_index(drop=True)
    registry["birth_date"] = registry["birth_date"].map(lambda d: None if pd.isna(d) else d)
    records = registry.drop(columns=["person_id"])
    first = records.iloc[: len(records) - held_back]
    config = LinkageConfig()
    if engine == "spark":
        from radlake.config import Settings
        from radlake.spark import spark_session

        scratch = str(registry_path.with_suffix(".spark-scratch"))
        config = LinkageConfig(engine="spark", spark=spark_session(Settings()), spark_scratch=scratch)
    out: dict[str, Any] = {"records": len(first), "load_before": os.getloadavg()[0]}
    first_features = record_features(first)
    out["blocking"] = _rule_counts(first_features)
    try:
        from transforms.empi.linkage import pair_completeness
    except ImportError:  # the previous method had no such measure
        pass
    else:
        out["completeness"] = pair_completeness(first_features, registry["person_id"].iloc[: len(first)])
    del first_features
    with PeakRss() as rss:
        cpu = _cpu_seconds()
        start = time.perf_counter()
        run = link_patients(first, config=config)
        out["wall"] = time.perf_counter() - start
        out["cpu"] = _cpu_seconds() - cpu
    out["peak_gib"] = rss.peak / 2**30
    out["phases"] = run.timings
    out["stats"] = {k: int(v) for k, v in run.stats.items() if isinstance(v, int | float)}
    truth = registry["person_id"].iloc[: len(first)]
    p, r, f = pairwise_scores(truth, run.master["empi_id"])
    out["precision"], out["recall"], out["f1"] = p, r, f
    out["review_pairs"] = len(run.review)
    if held_back:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        # A baseline tree may predate the one `previous` value (ten keyword inputs), or features and golden.
        parameters = inspect.signature(link_patients).parameters
        extra: dict[str, Any] = {}
        if "previous" in parameters:
            from transforms.empi.master import PreviousRun

            extra["previous"] = PreviousRun(
                master=run.master, events=run.events, review=run.review, features=run.features, golden=run.golden
            )
        else:
            extra = {"previous_master": run.master, "previous_events": run.events, "previous_review": run.review}
            if "previous_features" in parameters:
                extra |= {"previous_features": run.features, "previous_golden": run.golden}
        second = link_patients(records, model=run.model, config=config, **extra)
        wall = time.perf_counter() - start
        before = run.master.set_index("record_id")["empi_id"]
        after = second.master.set_index("record_id")["empi_id"].reindex(before.index)
        touched_persons = set(registry["person_id"].iloc[len(first) :])
        person_of = registry.set_index("record_id")["person_id"].reindex(before.index)
        changed = before != after
        untouched = ~person_of.isin(touched_persons)
        p2, r2, f2 = pairwise_scores(registry["person_id"], second.master["empi_id"])
        out["incremental"] = {
            "new": held_back,
            "load_before": load,
            "wall": wall,
            "phases": second.timings,
            "pairs_scored": int(second.stats["pairs_scored"]),
            "changed_touched": int((changed & ~untouched).sum()),
            "changed_untouched": int((changed & untouched).sum()),
            "events": {k: int(v) for k, v in second.events["event"].value_counts().items()},
            "precision": p2,
            "recall": r2,
            "f1": f2,
        }
    return out


def _export_tree(rev: str, into: Path) -> Path:
    """The files of revision ``rev`` (its transforms, radlake and simulator), for the previous method."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def _run_method(
    tree: Path, registry_path: Path, held_back: int, engine: str, memory_limit: str, reuse: bool = False
) -> dict[str, Any]:
    result = registry_path.with_suffix(f".{tree.name}.json")
    env = dict(os.environ, PYTHONPATH=str(tree), RADLAKE_PROGRESS="off")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(registry_path), "--result", str(result)]
    cmd += ["--incremental", str(held_back), "--engine", engine, "--tree", str(tree), "--memory-limit", memory_limit]
    cmd += ["--reuse-full"] if reuse else []
    subprocess.run(cmd, check=True, env=env, cwd=tree)
    data: dict[str, Any] = json.loads(result.read_text())
    return data


def _row(label: str, before: object, after: object, fmt: str = "{}") -> str:
    def show(v: object) -> str:
        return "—" if v is None else fmt.format(v)

    return f"  {label:<42} {show(before):>16} {show(after):>16}"


def _print_comparison(
    name: str, registry: pd.DataFrame | None, prev: dict[str, Any] | None, cur: dict[str, Any]
) -> None:
    p = prev or {}
    print(f"\n== {name} registry: {cur['records']:,} records ==")
    print(f"  {'':<42} {'previous':>16} {'current':>16}")
    print(_row("load average before the run", p.get("load_before"), cur["load_before"], "{:.1f}"))
    print(_row("wall time, full run (s)", p.get("wall"), cur["wall"], "{:.1f}"))
    for phase in dict.fromkeys([*p.get("phases", {}), *cur["phases"]]):
        print(_row(f"  phase {phase} (s)", p.get("phases", {}).get(phase), cur["phases"].get(phase), "{:.1f}"))
    for phase, seconds in cur.get("phase_cpu", {}).items():
        peak = cur.get("phase_peaks_gib", {}).get(phase)
        print(f"  {'':<42} {'':>16} {f'{phase}: CPU {seconds:.1f} s, peak {peak or 0:.2f} GiB':>16}")
    rate = cur["records"] / cur["wall"]
    print(_row("records/s", cur["records"] / p["wall"] if p else None, rate, "{:,.0f}"))
    print(_row("CPU time (s)", p.get("cpu"), cur["cpu"], "{:.1f}"))
    print(_row("peak memory while linking (GiB)", p.get("peak_gib"), cur["peak_gib"], "{:.2f}"))
    for rule in dict.fromkeys([*p.get("blocking", {}), *cur["blocking"]]):
        print(_row(f"  pairs blocked on {rule}"[:42], p.get("blocking", {}).get(rule), cur["blocking"].get(rule),
                   "{:,}"))  # fmt: skip
    for rule, share in cur.get("completeness", {}).items():
        fmt = "{:,.0f}" if rule == "true pairs" else "{:.4f}"
        print(_row(f"  pair completeness {rule}"[:42], p.get("completeness", {}).get(rule), share, fmt))
    print(_row("pairs scored", p.get("stats", {}).get("pairs_scored"), cur["stats"].get("pairs_scored"), "{:,}"))
    for key in ("precision", "recall", "f1"):
        print(_row(f"pairwise {key}", p.get(key), cur[key], "{:.4f}"))
    print(_row("review queue (pairs)", p.get("review_pairs"), cur["review_pairs"], "{:,}"))
    share = "{:.2%}"
    print(_row("review queue per record", p["review_pairs"] / p["records"] if p else None,
               cur["review_pairs"] / cur["records"], share))  # fmt: skip
    pi, ci = p.get("incremental", {}), cur.get("incremental")
    if ci:
        print(_row(f"incremental: {ci['new']:,} new records (s)", pi.get("wall"), ci["wall"], "{:.1f}"))
        if "cpu" in ci:
            print(_row("  incremental CPU (s)", pi.get("cpu"), ci["cpu"], "{:.1f}"))
            print(_row("  incremental peak memory (GiB)", pi.get("peak_gib"), ci["peak_gib"], "{:.2f}"))
        for phase in ci["phases"]:
            print(_row(f"  phase {phase} (s)", pi.get("phases", {}).get(phase), ci["phases"][phase], "{:.1f}"))
        print(_row("  ids changed, persons with a new record", pi.get("changed_touched"), ci["changed_touched"]))
        print(_row("  ids changed, untouched persons", pi.get("changed_untouched"), ci["changed_untouched"]))
        print(_row("  precision after", pi.get("precision"), ci["precision"], "{:.4f}"))
        print(_row("  recall after", pi.get("recall"), ci["recall"], "{:.4f}"))
        print(f"  incremental events (current): {ci['events']}")
    if registry is None:  # too large to hold beside the run: no naive baselines
        return
    first = registry.iloc[: cur["records"]]
    truth = first["person_id"]
    name_dob = first["name"].astype(str) + "|" + first["birth_date"].astype(str)
    name_dob = name_dob.where(first["name"].notna() & first["birth_date"].notna(), None)
    for label, keys in (("exact name + birth date", name_dob), ("ID number alone", first["id_number"])):
        bp, br, bf = pairwise_scores(truth, keys)
        print(f"  naive {label:<24} precision {bp:.4f} recall {br:.4f} F1 {bf:.4f} (current F1 / this "
              f"{cur['f1'] / bf:.2f})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--records", default="1000000", help="records of the full run, or several sizes: 1000000,3000000,10000000"
    )
    parser.add_argument("--min-free-gib", type=float, default=14.0, help="available memory a run above 3M needs")
    parser.add_argument("--registry", choices=("both", "standard", "hard"), default="both")
    parser.add_argument("--institutions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--incremental", type=int, default=10_000, help="records added by an incremental run")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="spark: Sail in process")
    parser.add_argument(
        "--memory-limit", default="4GB", help="DuckDB's memory_limit for the out-of-core run (it spills past it)"
    )
    parser.add_argument(
        "--registry-dir", type=Path, help="use <kind>-<records>.parquet from this folder when it is there"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="keep each registry's work folder (split registry, full run's outputs) here"
    )
    parser.add_argument(
        "--reuse-full", action="store_true", help="with --work-dir: reuse a kept full run, time the incremental one"
    )
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the previous method ('' for none)")
    parser.add_argument("--current-only", action="store_true", help="skip the previous method")
    parser.add_argument("--previous-only", action="store_true", help="skip the current method")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.tree:  # the method under test comes from that tree, not from this bench's checkout
            sys.path.remove(str(ROOT))
            sys.path.insert(0, str(args.tree))
        try:
            import transforms.empi.outofcore  # noqa: F401
        except ImportError:  # a tree from before the out-of-core run: everything in pandas
            result = worker(args.worker, args.incremental, args.engine)
        else:
            if args.engine == "duckdb":
                result = out_of_core_worker(args.worker, args.incremental, args.memory_limit, args.reuse_full)
            else:
                result = worker(args.worker, args.incremental, args.engine)
        args.result.write_text(json.dumps(result))
        return 0

    from simulator.people import write_registry

    sizes = [int(x) for x in str(args.records).split(",")]
    print(f"cpu cores: {psutil.cpu_count(logical=True)}; load average now: {os.getloadavg()[0]:.1f} "
          "(other processes may share the machine)")  # fmt: skip
    institutions = [f"h{i:02d}" for i in range(1, args.institutions + 1)]
    kinds = ("hard", "standard") if args.registry == "both" else (args.registry,)
    with tempfile.TemporaryDirectory(prefix="empi-bench-") as tmp:
        work = Path(tmp)
        if args.work_dir:  # the registries' work folders go beside their links, and stay
            work = args.work_dir
            work.mkdir(parents=True, exist_ok=True)
        wanted = args.baseline and not args.current_only
        previous_tree = _export_tree(args.baseline, work / "previous") if wanted else None
        table: list[tuple[str, dict[str, Any]]] = []
        for kind in kinds:
            for size in sizes:
                available = psutil.virtual_memory().available / 2**30
                if size > 3_000_000 and available < args.min_free_gib:
                    print(f"\n{kind} {size:,}: skipped, {available:.1f} GiB available < {args.min_free_gib} GiB")
                    continue
                start = time.perf_counter()
                path = work / f"{kind}-{size}.parquet"
                kept = args.registry_dir / path.name if args.registry_dir else None
                if kept is not None and kept.is_file():  # generated before (write_registry with these arguments)
                    path.unlink(missing_ok=True)
                    path.symlink_to(kept)
                    written = pq.ParquetFile(kept).metadata.num_rows
                else:
                    written = write_registry(
                        path, size + args.incremental, institutions, args.seed, hard=kind == "hard"
                    )
                held_back = min(args.incremental, written // 10)
                print(f"\n{kind} registry: {written:,} records generated in {time.perf_counter() - start:.1f} s "
                      f"({available:.1f} GiB available)")  # fmt: skip
                # Naive baselines need the registry in this process too: only for registries that are small.
                registry = pd.read_parquet(path).sample(frac=1.0, random_state=7) if written <= 2_000_000 else None
                if registry is not None:
                    registry = registry.reset_index(drop=True)
                    registry["birth_date"] = registry["birth_date"].astype(object)
                prev = (
                    _run_method(previous_tree, path, held_back, args.engine, args.memory_limit)
                    if previous_tree
                    else None
                )
                if args.previous_only and prev:
                    _print_comparison(kind, registry, None, prev)
                    continue
                cur = _run_method(ROOT, path, held_back, args.engine, args.memory_limit, args.reuse_full)
                _print_comparison(kind, registry, prev, cur)
                table.append((kind, cur))
                path.unlink()
        _print_scaling(table)
    return 0


def _print_scaling(table: list[tuple[str, dict[str, Any]]]) -> None:
    """The scaling table: one row per registry and size (current method)."""
    if not table:
        return
    print("\n== scaling (current method) ==")
    print(f"  {'registry':<9} {'records':>11} {'wall s':>8} {'CPU s':>8} {'peak GiB':>9} {'precision':>9} "
          f"{'recall':>7} {'queue':>6} {'blocked':>8} {'load':>5}")  # fmt: skip
    for kind, cur in table:
        complete = cur.get("completeness", {}).get("any rule")
        print(f"  {kind:<9} {cur['records']:>11,} {cur['wall']:>8.1f} {cur['cpu']:>8.1f} {cur['peak_gib']:>9.2f} "
              f"{cur['precision']:>9.4f} {cur['recall']:>7.4f} {cur['review_pairs'] / cur['records']:>6.2%} "
              f"{'—' if complete is None else f'{complete:.4f}':>8} {cur['load_before']:>5.1f}")  # fmt: skip
    phases = list(dict.fromkeys(phase for _, cur in table for phase in cur.get("phase_cpu", {})))
    if phases:
        print("\n== per phase: wall s / CPU s / peak GiB ==")
        print(f"  {'records':>11} " + " ".join(f"{p:>20}" for p in phases))
        for _, cur in table:
            cells = [
                f"{cur['phases'].get(p, 0):.0f} / {cur['phase_cpu'].get(p, 0):.0f} / "
                f"{cur.get('phase_peaks_gib', {}).get(p, 0):.2f}"
                for p in phases
            ]
            print(f"  {cur['records']:>11,} " + " ".join(f"{c:>20}" for c in cells))
    incremental = [(kind, cur) for kind, cur in table if cur.get("incremental")]
    if incremental:
        print("\n== incremental: new records against the linked registry ==")
        print(f"  {'registry':>11} {'new':>8} {'wall s':>7} {'CPU s':>7} {'peak GiB':>8} {'changed, untouched':>18}")
        for _, cur in incremental:
            inc = cur["incremental"]
            print(f"  {cur['records']:>11,} {inc['new']:>8,} {inc['wall']:>7.1f} {inc.get('cpu', 0):>7.1f} "
                  f"{inc.get('peak_gib', 0):>8.2f} {inc['changed_untouched']:>18,}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
