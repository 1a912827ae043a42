"""Great Expectations suites as Dagster asset checks: critical failures block downstream assets."""

from __future__ import annotations

import dagster as dg

from expectations.suites import Suite, all_suites
from orchestration.resources import RadlakeResource
from radlake import lake


def _check_for(suite: Suite) -> dg.AssetChecksDefinition:
    layer, name = suite.table.split("/", 1)

    @dg.asset_check(
        asset=dg.AssetKey([layer, name]),
        name=suite.name,
        description=suite.description,
        blocking=True,
    )
    def _check(radlake: RadlakeResource) -> dg.AssetCheckResult:
        from expectations.runner import validate

        settings = radlake.settings()
        data = lake.read_arrow(settings, f"{settings.lake}/{layer}/{name}")
        if data is None:
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata={"reason": "table missing"}
            )
        result = validate(settings, suite, data.to_pandas())
        failed = result.failed
        return dg.AssetCheckResult(
            passed=not failed,
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
                        for o in failed
                    ]
                ),
                "data_docs": dg.MetadataValue.path(result.docs_path or ""),
            },
        )

    return _check


def quality_checks() -> list[dg.AssetChecksDefinition]:
    """One check per suite over a lake table (gold suites run inside the warehouse, see gold assets)."""
    return [_check_for(s) for s in all_suites().values() if s.layer in ("bronze", "silver")]
