"""Exam-name standardisation: raw exam names of every institution onto the 14-digit standard codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.exam_names.batch import standardize_file
    from transforms.exam_names.decisions import Decision, queue_rows, read_decisions_csv, write_queue_csv
    from transforms.exam_names.engine import STATUSES, ExamNameEngine, NameMapping
    from transforms.exam_names.job import build_exam_name_map
    from transforms.exam_names.review import export_review_queue
    from transforms.exam_names.spark_job import apply_exam_codes
    from transforms.exam_names.store import decisions_uri, read_decisions, read_name_map, save_decisions

__all__ = [
    "STATUSES",
    "Decision",
    "ExamNameEngine",
    "NameMapping",
    "apply_exam_codes",
    "build_exam_name_map",
    "decisions_uri",
    "export_review_queue",
    "queue_rows",
    "read_decisions",
    "read_decisions_csv",
    "read_name_map",
    "save_decisions",
    "standardize_file",
    "write_queue_csv",
]

__getattr__ = lazy_face(
    __name__,
    {
        "export_review_queue": "review",
        "Decision": "decisions",
        "ExamNameEngine": "engine",
        "NameMapping": "engine",
        "STATUSES": "engine",
        "apply_exam_codes": "spark_job",
        "build_exam_name_map": "job",
        "decisions_uri": "store",
        "queue_rows": "decisions",
        "read_decisions": "store",
        "read_decisions_csv": "decisions",
        "read_name_map": "store",
        "save_decisions": "store",
        "standardize_file": "batch",
        "write_queue_csv": "decisions",
    },
)
