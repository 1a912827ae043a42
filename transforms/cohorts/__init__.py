"""Research cohorts: rules in version control (cohorts/<name>.yaml) and their membership in the lake."""

from transforms.cohorts.job import CohortBuild, build_cohort, current_members
from transforms.cohorts.rule import CohortRule, load_cohort
from transforms.cohorts.select import select_members

__all__ = ["CohortBuild", "CohortRule", "build_cohort", "current_members", "load_cohort", "select_members"]
