"""Benchmark the patient master index: the current method beside the previous one, on the same registries.

Usage: ``.venv/bin/python bench/empi.py [--records 1000000[,3000000,...]] [--registry both|standard|hard]
[--baseline REV] [--incremental 10000] [--engine duckdb] [--min-free-gib 14]``.

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


def _run_method(tree: Path, registry_path: Path, held_back: int, engine: str) -> dict[str, Any]:
    result = registry_path.with_suffix(f".{tree.name}.json")
    env = dict(os.environ, PYTHONPATH=str(tree), RADLAKE_PROGRESS="off")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(registry_path), "--result", str(result)]
    cmd += ["--incremental", str(held_back), "--engine", engine, "--tree", str(tree)]
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
        args.result.write_text(json.dumps(worker(args.worker, args.incremental, args.engine)))
        return 0

    from simulator.people import write_registry

    sizes = [int(x) for x in str(args.records).split(",")]
    print(f"cpu cores: {psutil.cpu_count(logical=True)}; load average now: {os.getloadavg()[0]:.1f} "
          "(other processes may share the machine)")  # fmt: skip
    institutions = [f"h{i:02d}" for i in range(1, args.institutions + 1)]
    kinds = ("hard", "standard") if args.registry == "both" else (args.registry,)
    with tempfile.TemporaryDirectory(prefix="empi-bench-") as tmp:
        work = Path(tmp)
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
                written = write_registry(path, size + args.incremental, institutions, args.seed, hard=kind == "hard")
                held_back = min(args.incremental, written // 10)
                print(f"\n{kind} registry: {written:,} records generated in {time.perf_counter() - start:.1f} s "
                      f"({available:.1f} GiB available)")  # fmt: skip
                # Naive baselines need the registry in this process too: only for registries that are small.
                registry = pd.read_parquet(path).sample(frac=1.0, random_state=7) if written <= 2_000_000 else None
                if registry is not None:
                    registry = registry.reset_index(drop=True)
                    registry["birth_date"] = registry["birth_date"].astype(object)
                prev = _run_method(previous_tree, path, held_back, args.engine) if previous_tree else None
                if args.previous_only and prev:
                    _print_comparison(kind, registry, None, prev)
                    continue
                cur = _run_method(ROOT, path, held_back, args.engine)
                _print_comparison(kind, registry, prev, cur)
                table.append((kind, cur))
                path.unlink()
        _print_scaling(table)
    return 0


def _print_scaling(table: list[tuple[str, dict[str, Any]]]) -> None:
    """The scaling table: one row per registry and size (current method)."""
    if len(table) < 2:
        return
    print("\n== scaling (current method) ==")
    print(f"  {'registry':<9} {'records':>11} {'wall s':>8} {'CPU s':>8} {'peak GiB':>9} {'precision':>9} "
          f"{'recall':>7} {'queue':>6} {'blocked':>8} {'load':>5}")  # fmt: skip
    for kind, cur in table:
        complete = cur.get("completeness", {}).get("any rule")
        print(f"  {kind:<9} {cur['records']:>11,} {cur['wall']:>8.1f} {cur['cpu']:>8.1f} {cur['peak_gib']:>9.2f} "
              f"{cur['precision']:>9.4f} {cur['recall']:>7.4f} {cur['review_pairs'] / cur['records']:>6.2%} "
              f"{'—' if complete is None else f'{complete:.4f}':>8} {cur['load_before']:>5.1f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
