"""Great Expectations suites as Dagster asset checks: critical failures block downstream assets."""

from __future__ import annotations

from collections.abc import Collection

import dagster as dg

from expectations import Suite, all_suites
from orchestration.resources import RadlakeResource


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("/", 1))


def _check_for(suite: Suite) -> dg.AssetChecksDefinition:
    # A suite that reads more than its own table (gold totals against silver) waits for those tables too.
    extra = [_key(t) for t in suite.requires if t != suite.table]

    @dg.asset_check(
        asset=_key(suite.table),
        name=suite.name,
        description=suite.description,
        blocking=True,
        additional_deps=extra or None,
    )
    def _check(radlake: RadlakeResource) -> dg.AssetCheckResult:
        from expectations import run_suite, summary_path, write_report

        settings = radlake.settings()
        run = run_suite(settings, suite)
        report = write_report(settings)
        if run.result is None:
            # Nothing to judge yet (e.g. no DICOM landed, or the EMPI has not run): not a data failure.
            return dg.AssetCheckResult(passed=True, metadata={"skipped": run.skipped or ""})
        result = run.result
        return dg.AssetCheckResult(
            passed=result.success,
            # Only critical expectations block; a warning-level failure shows but lets the run go on.
            severity=dg.AssetCheckSeverity.ERROR if result.blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "rows": result.rows,
                "failed_expectations": dg.MetadataValue.json(
                    [
                        {
                            "expectation": o.expectation,
                            "column": o.column,
                            "severity": o.severity,
                            "unexpected": o.unexpected_count,
                        }
                        for o in result.failed
                    ]
                ),
                "failing_rows": dg.MetadataValue.json([str(s.path) for s in run.samples]),
                "quality_report": dg.MetadataValue.path(str(report if report else summary_path(settings))),
                "data_docs": dg.MetadataValue.path(result.docs_path or ""),
            },
        )

    return _check


def quality_checks(asset_keys: Collection[dg.AssetKey] | None = None) -> list[dg.AssetChecksDefinition]:
    """One check per suite (bronze, silver and gold), on the asset of the table it guards.

    Parameters
    ----------
    asset_keys
        When given, only suites whose table is one of these assets (so no check targets an asset the code
        location does not define); all suites otherwise.
    """
    keys = set(asset_keys) if asset_keys is not None else None
    return [_check_for(s) for s in all_suites().values() if keys is None or _key(s.table) in keys]
