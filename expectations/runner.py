"""Run a suite over a pandas frame with Great Expectations and keep the result for the stewards' report."""

from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expectations.failing_rows import expectation_key, failing_mask
from expectations.privacy import PERSONAL_COLUMNS
from expectations.results import ExpectationOutcome, SuiteResult
from expectations.suites import Suite
from radlake.config import Settings
from radlake.private import stewards_folder

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.checkpoint import ValidationAction

_lock = threading.Lock()

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
"""GX keeps no sample of unexpected values: its Data Docs would render them as HTML (bootstrap-table does not
escape cells), and they may be personal data. Stewards get failing rows from our own CSV samples instead."""
_contexts: dict[Path, Any] = {}


def _context(root: Path) -> Any:
    with _lock:
        if root not in _contexts:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import great_expectations as gx
                from great_expectations.data_context.types.base import ProgressBarsConfig

                root.mkdir(parents=True, exist_ok=True)
                ctx = gx.get_context(mode="file", project_root_dir=str(root))
                ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
                ctx.variables.save()
            _contexts[root] = ctx
        return _contexts[root]


def validate(settings: Settings, suite: Suite, df: pd.DataFrame, *, build_docs: bool = True) -> SuiteResult:
    """Validate ``df`` against ``suite``, store the result and (optionally) update the Data Docs.

    Parameters
    ----------
    settings
        Where results go: ``settings.quality_dir``.
    suite
        The suite (see :mod:`expectations.suites`).
    df
        The batch to validate (a table or a sample of it) as pandas.

    Returns
    -------
    SuiteResult
        Per-expectation outcomes with GX's severity; ``blocking`` if any critical one failed.
    """
    import great_expectations as gx

    stewards_folder(settings)  # failing rows carry accession numbers: the quality pages are the stewards'
    ctx = _context(settings.quality_dir / "gx")
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = ctx.data_sources.add_or_update_pandas("radlake")
        asset = next((a for a in source.assets if a.name == suite.name), None) or source.add_dataframe_asset(suite.name)
        batch = next((b for b in asset.batch_definitions if b.name == "whole"), None)
        batch = batch or asset.add_batch_definition_whole_dataframe("whole")
        built = suite.build()
        expectations = {expectation_key(e): e for e in built}
        gx_suite = gx.ExpectationSuite(name=suite.name, expectations=built)
        gx_suite = ctx.suites.add_or_update(gx_suite)
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )
        actions: list[ValidationAction] = [gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if build_docs else []
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=suite.name,
                validation_definitions=[definition],
                actions=actions,
                result_format=RESULT_FORMAT,
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": df})
    outcomes = []
    for validation in run.run_results.values():
        for r in validation.results:
            cfg = r.expectation_config
            res = r.result or {}
            outcomes.append(
                ExpectationOutcome(
                    expectation=cfg.type,
                    column=_column(cfg.kwargs),
                    severity=str(getattr(cfg.severity, "value", cfg.severity)),
                    success=bool(r.success),
                    unexpected_count=res.get("unexpected_count"),
                    unexpected_sample=_sample(df, expectations.get((cfg.type, _column(cfg.kwargs)))),
                )
            )
    result = SuiteResult(
        suite=suite.name,
        layer=suite.layer,
        table=suite.table,
        rows=len(df),
        success=all(o.success for o in outcomes),
        blocking=any(not o.success and o.severity == "critical" for o in outcomes),
        outcomes=outcomes,
        run_at=datetime.now(UTC).isoformat(timespec="seconds"),
        docs_path=str(settings.quality_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html")
        if build_docs
        else None,
    )
    _record(settings, result)
    return result


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _column(kwargs: Any) -> str | None:
    return kwargs.get("column") or ",".join(kwargs.get("column_list", []) or []) or None


def _sample(df: pd.DataFrame, expectation: Any) -> list[Any]:
    """Up to five values that broke the expectation, found by our own row masks (none of a personal column)."""
    if expectation is None:
        return []
    column = expectation.configuration.kwargs.get("column")
    if column is None or column in PERSONAL_COLUMNS or column not in df.columns:
        return []
    mask = failing_mask(df, expectation)
    if mask is None:
        return []
    return [_plain(v) for v in df.loc[mask, column].head(5).tolist()]


def _record(settings: Settings, result: SuiteResult) -> None:
    """Append the verdict to the history the summary page charts (one JSON line per run)."""
    history = settings.quality_dir / "history.jsonl"
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
