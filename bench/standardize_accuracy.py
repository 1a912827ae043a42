"""Accuracy of the exam-name engine on the dev set and the held-out set (and simulator names, for reference).

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

HELDOUT = ROOT / "tests" / "data" / "exam_names" / "heldout.csv"


def load_set(path: Path) -> list[tuple[str, tuple[str, ...], bool]]:
    """(raw_name, true codes, is_exam) per row of a dev-set-shaped CSV."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            (r["raw_name"], tuple(c for c in r["codes"].split("|") if c), r["kind"] == "exam")
            for r in csv.DictReader(fh)
        ]


def simulator_set(
    n_institutions: int = 20, per_item: int = 3, seed: int = 11
) -> list[tuple[str, tuple[str, ...], bool]]:
    """Names written by the simulator (its own spelling templates; not independent of the engine's author)."""
    from simulator.exam_names import billing_lines, exam_items, spell

    rng = random.Random(seed)
    items = exam_items(dicom_modalities={"CT", "MR", "DX", "MG", "US", "RF", "NM", "PT", "XA"})
    seen: dict[str, tuple[tuple[str, ...], bool]] = {}
    for i in range(1, n_institutions + 1):
        for item in items:
            for _ in range(per_item):
                seen[spell(item, f"h{i:02d}", rng)] = (item.codes, True)
    for line in billing_lines():
        seen[line] = ((), False)
    return [(raw, codes, is_exam) for raw, (codes, is_exam) in seen.items()]


def measure(engine: ExamNameEngine, rows, show_errors: bool = False) -> dict[str, float | int | dict]:
    """Figures for one set; prints the wrong rows when asked."""
    statuses: Counter[str] = Counter()
    correct = matched = matched_correct = auto = auto_correct = 0
    for raw, truth, is_exam in rows:
        m = engine.map(raw)
        ok = m.codes == truth and ((m.status == "not_exam") == (not is_exam))
        statuses[m.status] += 1
        correct += ok
        if m.status == "matched":
            matched += 1
            matched_correct += ok
        if m.status in ("matched", "not_exam"):
            auto += 1
            auto_correct += ok
        if show_errors and (not ok or m.status not in ("matched", "not_exam")):
            mark = "WRONG" if not ok else "doubt"
            print(
                f"  {mark} {m.status:9s} {m.confidence:.2f} {raw!r}: got {'|'.join(m.codes) or '-'} "
                f"want {'|'.join(truth) or 'not_exam'}  ({'; '.join(m.reasons)})"
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
    sets = {"dev set": load_set(standard.dev_set_path()), "held-out set": load_set(HELDOUT)}
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
