"""Silver assets: DICOM roll-ups and silver/exams, with the silver quality suite as a blocking check."""

from __future__ import annotations

import dagster as dg

from orchestration.metadata import table_metadata
from orchestration.owners import SILVER_OWNERS
from orchestration.resources import RadlakeResource
from radlake import catalog
from radlake.config import Settings


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
    build_dicom_rollups(radlake.spark(), settings)
    for name in ("dicom_series", "dicom_studies"):
        uri = catalog.table_uri(settings, catalog.table("silver", name))
        yield dg.MaterializeResult(asset_key=["silver", name], metadata=table_metadata(settings, uri))


def exams_asset(settings: Settings) -> dg.AssetsDefinition:
    """silver/exams, depending on every RIS source's silver tables and the DICOM studies."""
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
    )
    def exams(radlake: RadlakeResource) -> dg.MaterializeResult:
        from transforms.exams.job import build_exams_table

        settings = radlake.settings()
        rows = build_exams_table(radlake.spark(), settings)
        meta = table_metadata(
            settings,
            catalog.table_uri(settings, spec),
            preview_columns=["institution", "accession_number", "modality", "status", "exam_date"],
        )
        return dg.MaterializeResult(metadata={**meta, "dagster/row_count": rows})

    return exams
