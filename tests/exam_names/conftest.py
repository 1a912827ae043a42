"""Fixtures of the exam-name tests: one standard and one engine per test session (building one takes ~0.4 s)."""

from __future__ import annotations

import pytest

from radlake.exam_standard import ExamStandard, load_standard
from transforms.exam_names.engine import ExamNameEngine


@pytest.fixture(scope="session")
def standard() -> ExamStandard:
    return load_standard()


@pytest.fixture(scope="session")
def engine(standard) -> ExamNameEngine:
    return ExamNameEngine(standard)
