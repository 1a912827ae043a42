"""What exam_volume_daily must show, from the simulator's own truth file (not from the lake or the marts)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path


def exam_volume_truth(truth_csv: Path, min_cell: int) -> dict[tuple[str, str, str], int]:
    """Performed exams per (day, institution, modality) as the simulator wrote them, small cells folded.

    A modality with fewer than ``min_cell`` exams that day at the institution counts under the day's '(other)'
    row (privacy.min_cell; the rule of dbt_project/models/marts/exam_volume_daily.sql).
    """
    cells: Counter[tuple[str, str, str]] = Counter()
    with truth_csv.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["performed"].lower() == "true":
                cells[(row["exam_date"], row["institution"], row["modality"])] += 1
    shown: Counter[tuple[str, str, str]] = Counter()
    for (day, institution, modality), count in cells.items():
        shown[(day, institution, modality if count >= min_cell else "(other)")] += count
    return dict(shown)
