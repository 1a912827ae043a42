"""A suite's verdict on one batch and each expectation's: plain values the runner, samples and report share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict."""

    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    unexpected_sample: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SuiteResult:
    """A suite's verdict on one batch. ``blocking`` when a critical expectation failed."""

    suite: str
    layer: str
    table: str
    rows: int
    success: bool
    blocking: bool
    outcomes: list[ExpectationOutcome]
    run_at: str
    docs_path: str | None = None

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]
