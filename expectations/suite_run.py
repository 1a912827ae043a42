"""Run quality suites end to end: build the batch, validate with GX, keep failing rows, refresh the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expectations.batches import load_batch, missing_tables
from expectations.failing_rows import FailingSample, write_failing_rows
from expectations.runner import SuiteResult, validate
from expectations.suites import Suite, suites_for_layer
from radlake.config import Settings

if TYPE_CHECKING:
    from radlake.progress import Progress


@dataclass(frozen=True)
class SuiteRun:
    """A suite's run: its GX result, or why it was skipped (a table it reads does not exist yet)."""

    suite: Suite
    result: SuiteResult | None = None
    skipped: str | None = None
    samples: list[FailingSample] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """A critical expectation failed."""
        return bool(self.result and self.result.blocking)


def run_suite(settings: Settings, suite: Suite, *, build_docs: bool = True) -> SuiteRun:
    """Validate one suite against the current lake (and warehouse, for gold suites).

    Parameters
    ----------
    settings
        Lake, warehouse and where quality results go.
    suite
        The suite to run.
    build_docs
        Update the GX Data Docs with this validation.

    Returns
    -------
    SuiteRun
        The result and the failing-row samples written; ``skipped`` set when a table is missing.

    Raises
    ------
    LakeError
        The batch's query failed.
    """
    missing = missing_tables(settings, suite)
    if missing:
        return SuiteRun(suite=suite, skipped=f"{', '.join(missing)} not built yet")
    frame = load_batch(settings, suite)
    result = validate(settings, suite, frame, build_docs=build_docs)
    samples = write_failing_rows(settings, suite, frame, result)
    return SuiteRun(suite=suite, result=result, samples=samples)


def run_suites(settings: Settings, layer: str | None = None, *, progress: Progress | None = None) -> list[SuiteRun]:
    """Run every suite of a layer (all layers when None) and rewrite the stewards' report.

    Raises
    ------
    radlake.errors.LakeError
        If every suite was skipped (no table to check): an empty report would read as "all passed".
    """
    from expectations.report import write_report
    from radlake.errors import LakeError
    from radlake.progress import silent

    progress = progress or silent()
    suites = suites_for_layer(layer)
    runs = []
    with progress.phase("suites", total=len(suites)) as step:
        for suite in suites:
            runs.append(run_suite(settings, suite))
            step.advance()
    if all(r.result is None for r in runs):
        hint = "" if settings.config_path else " (no radlake.yaml found: pass --config or set RADLAKE_CONFIG)"
        raise LakeError(f"no table to check in the lake {settings.lake}: every suite was skipped{hint}")
    with progress.phase("report"):
        write_report(settings)
    return runs
