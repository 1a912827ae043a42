"""Research cohorts: rules in version control (cohorts/<name>.yaml) and their membership in the lake."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.cohorts.job import CohortBuild, build_cohort, current_members
    from transforms.cohorts.rule import CohortRule, ExportPolicy, load_cohort
    from transforms.cohorts.select import select_members

__all__ = [
    "CohortBuild",
    "CohortRule",
    "ExportPolicy",
    "build_cohort",
    "current_members",
    "load_cohort",
    "select_members",
]

__getattr__ = lazy_face(
    __name__,
    {
        "CohortBuild": "job",
        "CohortRule": "rule",
        "ExportPolicy": "rule",
        "build_cohort": "job",
        "current_members": "job",
        "load_cohort": "rule",
        "select_members": "select",
    },
)
