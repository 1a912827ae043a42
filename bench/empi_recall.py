"""Recall of the patient master index on registries it was not tuned on: pair completeness per blocking rule,
precision, recall and review queue, beside the previous method, on the same files.

Usage: ``.venv/bin/python bench/empi_recall.py [--registry heldout|hard] [--records 20000,1000000]
[--baseline REV] [--seed 29]``.

- ``heldout`` (the default): :mod:`simulator.heldout`, drawn by code apart from the generator the EMPI's model is
  tuned on, with its own pools, rates and spellings of issue 29's hard cases;
- ``hard``: the tuning registry, :data:`simulator.people.HARD`.

Each size is written to a temporary Parquet file and linked by each method in a fresh process (bench/empi.py's
worker: a full run, then no incremental run), so peak memory is each method's own. Printed per size: the share
of true pairs each blocking rule proposes (pair completeness) and all rules together, pairwise precision and
recall against the generator's ``person_id``, the review queue per record, wall and CPU seconds, peak memory, and
the load average before the run (the machine is shared). Runs above 1M records should hold the shared lock
(``flock /work/wt/bigrun.lock``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.empi import _export_tree, _run_method  # noqa: E402

BASELINE = "c1d0e8e"
"""The revision before issue 29's recall work (item 0)."""


def _write(kind: str, path: Path, size: int, seed: int) -> int:
    if kind == "heldout":
        from simulator.heldout import write_heldout_registry

        return write_heldout_registry(path, size, seed)
    from simulator.people import write_registry

    return write_registry(path, size, [f"h{i:02d}" for i in range(1, 9)], seed, hard=True)


def _table(rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    rules = list(dict.fromkeys(r for _, _, res in rows for r in res.get("completeness", {}) if r != "true pairs"))
    head = " ".join(f"{'PC ' + str(i + 1):>6}" for i in range(len(rules)))
    print(f"\n  {'registry':<8} {'method':<9} {'records':>10} {head} {'prec':>6} {'recall':>6} {'queue':>6} "
          f"{'wall s':>7} {'CPU s':>7} {'GiB':>5} {'load':>5}")  # fmt: skip
    for kind, method, res in rows:
        shares = res.get("completeness", {})
        pcs = " ".join(f"{shares[r]:>6.4f}" if r in shares else f"{'—':>6}" for r in rules)
        print(f"  {kind:<8} {method:<9} {res['records']:>10,} {pcs} {res['precision']:>6.4f} {res['recall']:>6.4f} "
              f"{res['review_pairs'] / res['records']:>6.2%} {res['wall']:>7.1f} {res['cpu']:>7.1f} "
              f"{res['peak_gib']:>5.2f} {res['load_before']:>5.1f}")  # fmt: skip
    print("  rules: " + "; ".join(f"PC {i + 1} = {r}" for i, r in enumerate(rules)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--registry", choices=("heldout", "hard"), default="heldout")
    parser.add_argument("--records", default="20000,1000000")
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument(
        "--baseline", default=BASELINE, help="git revision or tree folder of the previous method ('' for none)"
    )
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="empi-recall-") as tmp:
        work = Path(tmp)
        previous = None
        if args.baseline:  # a revision, or a folder holding an exported tree (a copy outside the repository)
            given = Path(args.baseline)
            previous = given if given.is_dir() else _export_tree(args.baseline, work / "previous")
        for size in (int(x) for x in args.records.split(",")):
            path = work / f"{args.registry}-{size}.parquet"
            written = _write(args.registry, path, size, args.seed)
            print(f"{args.registry}: {written:,} records; load {os.getloadavg()[0]:.1f}", flush=True)
            for method, tree in (("previous", previous), ("current", ROOT)):
                if tree is not None:
                    rows.append((args.registry, method, _run_method(tree, path, 0, "duckdb")))
            path.unlink()
            _table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
