"""Exam-name standardisation: raw exam names of every institution onto the 14-digit standard codes."""

from __future__ import annotations

from transforms.exam_names.decisions import Decision
from transforms.exam_names.engine import STATUSES, ExamNameEngine, NameMapping

__all__ = ["STATUSES", "Decision", "ExamNameEngine", "NameMapping"]
