"""Silver assets: DICOM roll-ups and silver/exams (by exam day), built by Spark jobs in transforms/."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

import dagster as dg

from orchestration.metadata import table_metadata
from orchestration.owners import SILVER_OWNERS
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import RadlakeResource
from radlake import catalog, lake
from radlake.config import Settings

EXAMS_PREVIEW = ["institution", "accession_number", "modality", "status", "priority", "exam_date"]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["silver", name],
            description=catalog.table("silver", name).description,
            group_name="silver",
            owners=SILVER_OWNERS,
            kinds={"delta", "spark"},
            deps=[["bronze", "dicom_instances"]],
        )
        for name in ("dicom_series", "dicom_studies")
    ],
    can_subset=False,
)
def dicom_rollups(radlake: RadlakeResource):
    """Series and study roll-ups of the landed DICOM instances."""
    from transforms.dicom.job import build_dicom_rollups

    settings = radlake.settings()
    uris = {n: catalog.table_uri(settings, catalog.table("silver", n)) for n in ("dicom_series", "dicom_studies")}
    before = {n: lake.table_version(settings, u) for n, u in uris.items()}
    build_dicom_rollups(radlake.spark(), settings)
    for name, uri in uris.items():
        since = before[name] if before[name] is not None else -1
        yield dg.MaterializeResult(
            asset_key=["silver", name], metadata=table_metadata(settings, uri, since_version=since)
        )


def exams_asset(settings: Settings) -> dg.AssetsDefinition:
    """silver/exams by exam day, depending on every RIS source's silver tables and the DICOM studies."""
    from transforms.exams.job import RIS_TABLES

    deps: list[list[str]] = [["silver", "dicom_studies"]]
    for source, cfg in settings.sources.items():
        if cfg.tables == ["*"]:
            deps.append(["bronze", source])
        else:
            deps += [["silver", catalog.cdc_table_name(source, t)] for t in RIS_TABLES if t in cfg.tables]
    spec = catalog.table("silver", "exams")

    @dg.asset(
        key=["silver", "exams"],
        description=spec.description,
        group_name="silver",
        owners=SILVER_OWNERS,
        kinds={"delta", "spark"},
        deps=deps,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def exams(context: dg.AssetExecutionContext, radlake: RadlakeResource) -> dg.MaterializeResult:
        """Rebuild the exams of the partition's days (one run for a whole backfill range)."""
        from transforms.exams.job import build_exams_table

        settings = radlake.settings()
        first, last = partition_days(context)
        uri = catalog.table_uri(settings, spec)
        before = lake.table_version(settings, uri)
        rows = build_exams_table(radlake.spark(), settings, first, last)
        meta = table_metadata(
            settings, uri, since_version=before if before is not None else -1, preview_columns=EXAMS_PREVIEW
        )
        return dg.MaterializeResult(metadata={**meta, "rows_in_range": rows, "days": f"{first}..{last}"})

    return exams
