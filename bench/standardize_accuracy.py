"""Accuracy of the exam-name engine on the dev set and the held-out sets (and simulator names, for reference).

The frozen sets (``heldout_other_hospitals.csv``, ``heldout_after_freeze.csv``; see tests/data/exam_names/README.md)
were written by hand before the issue-19 engine changes; their ``review`` rows are right when not accepted.

Run: ``.venv/bin/python bench/standardize_accuracy.py [--show-errors]``.

A row is correct when the engine's code list equals the true one exactly (in order); a billing line is
correct when the engine says ``not_exam``. Among ``matched``: rows the engine accepted automatically.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlake.exam_standard import load_standard  # noqa: E402
from transforms.exam_names.engine import ExamNameEngine  # noqa: E402

DATA = ROOT / "tests" / "data" / "exam_names"
HELDOUT = DATA / "heldout.csv"
# Frozen sets written before the issue-19 engine changes and never used for tuning (see their README).
OTHER_HOSPITALS = DATA / "heldout_other_hospitals.csv"
AFTER_FREEZE = DATA / "heldout_after_freeze.csv"
EXAM, NOT_EXAM, REVIEW = "exam", "not_exam", "review"
AUTOMATIC = ("matched", "not_exam")


Row = tuple[str, tuple[str, ...], str]


def load_set(path: Path) -> list[Row]:
    """(raw_name, true codes, kind) per row of a dev-set-shaped CSV; kind is exam, not_exam or review."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [(r["raw_name"], tuple(c for c in r["codes"].split("|") if c), r["kind"]) for r in csv.DictReader(fh)]
    bad = [raw for raw, _, kind in rows if kind not in (EXAM, NOT_EXAM, REVIEW)]
    if bad:
        raise ValueError(f"{path}: unknown kind in row {bad[0]!r}")
    return rows


def is_correct(status: str, codes: tuple[str, ...], truth: tuple[str, ...], kind: str) -> bool:
    """Exact codes for an exam, ``not_exam`` for a billing line, no automatic answer for a review row."""
    if kind == REVIEW:
        return status not in AUTOMATIC
    return codes == truth and ((status == "not_exam") == (kind == NOT_EXAM))


def simulator_set(n_institutions: int = 20, per_item: int = 3, seed: int = 11) -> list[Row]:
    """Names written by the simulator (its own spelling templates; not independent of the engine's author)."""
    from simulator.exam_names import billing_lines, exam_items, spell

    rng = random.Random(seed)
    items = exam_items(dicom_modalities={"CT", "MR", "DX", "MG", "US", "RF", "NM", "PT", "XA"})
    seen: dict[str, tuple[tuple[str, ...], str]] = {}
    for i in range(1, n_institutions + 1):
        for item in items:
            for _ in range(per_item):
                seen[spell(item, f"h{i:02d}", rng)] = (item.codes, EXAM)
    for line in billing_lines():
        seen[line] = ((), NOT_EXAM)
    return [(raw, codes, kind) for raw, (codes, kind) in seen.items()]


def measure(engine: ExamNameEngine, rows, show_errors: bool = False) -> dict[str, float | int | dict]:
    """Figures for one set; prints the wrong rows when asked."""
    statuses: Counter[str] = Counter()
    correct = matched = matched_correct = auto = auto_correct = 0
    for raw, truth, kind in rows:
        m = engine.map(raw)
        ok = is_correct(m.status, m.codes, truth, kind)
        statuses[m.status] += 1
        correct += ok
        if m.status == "matched":
            matched += 1
            matched_correct += ok
        if m.status in AUTOMATIC:
            auto += 1
            auto_correct += ok
        if show_errors and (not ok or m.status not in ("matched", "not_exam")):
            mark = "WRONG" if not ok else "doubt"
            print(
                f"  {mark} {m.status:9s} {m.confidence:.2f} {raw!r}: got {'|'.join(m.codes) or '-'} "
                f"want {'|'.join(truth) or kind}  ({'; '.join(m.reasons)})"
            )
    n = len(rows)
    return {
        "rows": n,
        "accuracy": correct / n,
        "matched_share": matched / n,
        "accuracy_among_matched": matched_correct / matched if matched else float("nan"),
        "automatic_share": auto / n,
        "accuracy_among_automatic": auto_correct / auto if auto else float("nan"),
        "statuses": dict(sorted(statuses.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-errors", action="store_true", help="list wrong and doubtful rows")
    parser.add_argument("--no-simulator", action="store_true", help="skip the simulator-written set")
    args = parser.parse_args()
    standard = load_standard()
    engine = ExamNameEngine(standard)
    sets = {
        "dev set": load_set(standard.dev_set_path()),
        "held-out set": load_set(HELDOUT),
        "held-out, other hospitals (frozen)": load_set(OTHER_HOSPITALS),
        "held-out, after the lexicon freeze (frozen)": load_set(AFTER_FREEZE),
    }
    if not args.no_simulator:
        sets["simulator names"] = simulator_set()
    print(f"exam standard {standard.version}; targets: accuracy >= 97%, among matched >= 99.5%, matched >= 90%")
    for name, rows in sets.items():
        print(f"{name}:")
        f = measure(engine, rows, args.show_errors)
        print(
            f"  rows {f['rows']}: accuracy {f['accuracy']:.2%}, matched {f['matched_share']:.2%} "
            f"(correct among matched {f['accuracy_among_matched']:.2%}); "
            f"matched+not_exam {f['automatic_share']:.2%} (correct among them {f['accuracy_among_automatic']:.2%})"
        )
        print(f"  statuses {f['statuses']}")


if __name__ == "__main__":
    main()
