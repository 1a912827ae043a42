"""The quality suites, one per lake table or mart, each tied to the layer it guards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation


@dataclass(frozen=True)
class Suite:
    """A named set of expectations over one table.

    ``table`` is the catalog key (``silver/exams``) or ``gold/<mart>`` for a mart in the warehouse.
    Each expectation carries GX's severity: ``critical`` blocks downstream assets (Dagster ERROR),
    ``warning`` is reported only (Dagster WARN).
    """

    name: str
    layer: str
    table: str
    build: Callable[[], list[Expectation]]
    description: str


def all_suites() -> dict[str, Suite]:
    """Every suite by name."""
    from expectations.suites import silver

    suites = [silver.EXAMS]
    return {s.name: s for s in suites}
