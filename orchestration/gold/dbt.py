"""The dbt project as Dagster assets: marts keyed ``gold/<model>``, dbt tests as asset checks."""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from ingestion.cdc import lagging_sources
from orchestration.owners import GOLD_OWNERS
from radlake.config import Settings
from radlake.private import restrict_file
from radlake.pseudonym import load_key
from radlake.publish import abandon_build, begin_build, publish_build
from radlake.warehouse import DBT_PROJECT_DIR, apply_dbt_env

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
MART_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=24))


# Models are marts; seeds are the reference tables beside them in the same warehouse file.
_WAREHOUSE_RESOURCES = ("model", "seed")


class RadlakeDbtTranslator(DagsterDbtTranslator):
    """Models and seeds become ``gold/<name>`` in the gold group; sources keep ``<source>/<table>`` (= silver)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in _WAREHOUSE_RESOURCES:
            return dg.AssetKey(["gold", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "gold" if dbt_resource_props["resource_type"] in _WAREHOUSE_RESOURCES else None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        return GOLD_OWNERS

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            # Marts are rebuilt nightly; a mart older than 26 hours missed a night (two hours of slack).
            spec = spec.replace_attributes(freshness_policy=MART_FRESHNESS)
        return spec


def _project_files_newer_than(path: Path) -> bool:
    if not path.exists():
        return True
    built = path.stat().st_mtime
    watched = [p for d in ("models", "tests", "seeds", "macros") for p in (DBT_PROJECT_DIR / d).rglob("*")]
    watched += [DBT_PROJECT_DIR / "dbt_project.yml"]
    return any(p.is_file() and p.stat().st_mtime > built for p in watched)


def ensure_manifest(settings: Settings) -> Path:
    """Parse the dbt project when its manifest is missing or older than its files (dagster-dbt needs one)."""
    apply_dbt_env(settings)
    if _project_files_newer_than(MANIFEST):
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR)])
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
    return MANIFEST


def lagging_metadata(lagging: dict[str, str]) -> dict[str, Any]:
    """Materialisation metadata saying whether (and why) the data behind a gold asset was lagging."""
    return {
        "built_on_lagging_data": bool(lagging),
        "lagging_sources": dg.MetadataValue.json(lagging) if lagging else "none",
    }


def models_built(run_results: Mapping[str, Any]) -> bool:
    """Whether every model and seed of a dbt run was built (its data tests may have failed)."""
    built = [r for r in run_results.get("results", []) if r.get("unique_id", "").startswith(("model.", "seed."))]
    return bool(built) and all(r.get("status") == "success" for r in built)


def _run_results(invocation: Any) -> Mapping[str, Any]:
    try:
        return invocation.get_artifact("run_results.json")
    except (OSError, ValueError):  # dbt stopped before writing it
        return {}


def dbt_gold_assets(settings: Settings) -> tuple[dg.AssetsDefinition, DbtCliResource]:
    """The marts as one dbt-backed multi-asset, and the dbt resource that runs them."""
    manifest = ensure_manifest(settings)

    @dbt_assets(manifest=manifest, dagster_dbt_translator=RadlakeDbtTranslator(), name="gold_marts")
    def gold_marts(context: AssetExecutionContext, dbt: DbtCliResource):
        """Build the marts (analysts' and stewards' files) and run their dbt tests (``dbt build``)."""
        # The marts carry keyed pseudonyms: without a usable key, stop here with one line naming the variable
        # (dbt's plugin would refuse too, with a traceback). The key reaches dbt through the environment only.
        load_key(settings)
        lagging = lagging_sources(settings)
        if lagging:
            context.log.warning(f"building the marts on lagging data: {lagging}")
        # dbt writes a new build of both warehouse files, never the published ones: readers holding those open
        # neither block this build nor see it half-done; the build is published at once when dbt is through.
        build = begin_build(settings)
        apply_dbt_env(settings, build)
        published = False
        try:
            invocation = dbt.cli(["build"], context=context, raise_on_error=False)
            for event in invocation.stream():
                # Every mart says whether a source was behind its database when it was built (issue 13: a
                # nightly run whose CDC sync stopped at cdc.max_sync_seconds).
                if isinstance(event, dg.Output):
                    event = event.with_metadata({**event.metadata, **lagging_metadata(lagging)})
                yield event
            if models_built(_run_results(invocation)):
                # Failed data tests do not hold the marts back (they never did): their checks say so.
                publish_build(settings, build)
                published = True
                restrict_file(settings.stewards_warehouse_path)  # DuckDB creates it 0644: owner-only, like its folder
                context.log.info(f"published warehouse build {build.build_id}")
            error = invocation.get_error()
            if error is not None:
                raise error
        finally:
            if not published:
                abandon_build(build)
            apply_dbt_env(settings)

    # The dbt beside this interpreter: a run must not depend on PATH (Dagster daemons rarely have the venv's).
    executable = Path(sys.executable).parent / "dbt"
    resource = DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=str(executable)
    )
    return gold_marts, resource
