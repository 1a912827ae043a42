"""Dagster wiring of the domains (assets, checks, schedules, sensors) and the demo runner that drives them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from orchestration.demo import DemoSummary, run_demo

__all__ = [
    "DemoSummary",
    "run_demo",
]

__getattr__ = lazy_face(
    __name__,
    {
        "DemoSummary": "demo",
        "run_demo": "demo",
    },
)
