"""Bronze assets: DICOM headers from the watch folders and the change logs of every RIS/HIS source."""

from __future__ import annotations

import dagster as dg

from orchestration.metadata import report_metadata, table_metadata
from orchestration.owners import BRONZE_OWNERS, SILVER_OWNERS
from orchestration.resources import RadlakeResource
from radlake import catalog
from radlake.config import Settings
from radlake.errors import DataError

DICOM_TABLES = ("dicom_files", "dicom_instances")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["bronze", name],
            description=catalog.table("bronze", name).description,
            group_name="bronze",
            owners=BRONZE_OWNERS,
            kinds={"delta", "python"},
        )
        for name in DICOM_TABLES
    ],
    can_subset=False,
)
def dicom_headers(radlake: RadlakeResource):
    """Ingest new DICOM files from the configured watch folders (headers only; re-runs skip landed files)."""
    from ingestion.dicom.api import ingest_dicom

    settings = radlake.settings()
    report = ingest_dicom(settings, settings.dicom.watch)
    extra = report_metadata(report)
    for name in DICOM_TABLES:
        uri = catalog.table_uri(settings, catalog.table("bronze", name))
        yield dg.MaterializeResult(asset_key=["bronze", name], metadata={**table_metadata(settings, uri), **extra})


def _source_tables(settings: Settings, source: str) -> list[str]:
    tables = settings.sources[source].tables
    return [] if tables == ["*"] else list(tables)


def cdc_source_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """One multi-asset per source: each captured table's change log (bronze) and current state (silver).

    A source syncs as one unit (one replication slot, one consistent snapshot), so its tables cannot be
    materialised separately. With ``tables: ["*"]`` the tables are only known at run time, and the source
    appears as one asset ``bronze/<source>``.
    """
    assets = []
    for source in settings.sources:
        names = _source_tables(settings, source)
        if names:
            specs = []
            for t in names:
                name = catalog.cdc_table_name(source, t)
                specs.append(
                    dg.AssetSpec(
                        ["bronze", name],
                        description=f"Change log of {source}.{t}.",
                        group_name="bronze",
                        owners=BRONZE_OWNERS,
                        kinds={"delta", "postgres"},
                    )
                )
                specs.append(
                    dg.AssetSpec(
                        ["silver", name],
                        description=f"Current state of {source}.{t}.",
                        group_name="silver",
                        owners=SILVER_OWNERS,
                        kinds={"delta", "spark"},
                        deps=[["bronze", name]],
                    )
                )
        else:
            specs = [
                dg.AssetSpec(
                    ["bronze", source],
                    description=f"All captured tables of {source}.",
                    group_name="bronze",
                    owners=BRONZE_OWNERS,
                    kinds={"delta", "postgres"},
                )
            ]
        assets.append(_cdc_asset(source, specs))
    return assets


def _cdc_asset(source: str, specs: list[dg.AssetSpec]) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"cdc_{source}",
        specs=specs,
        can_subset=False,
        retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL),
    )
    def _sync(radlake: RadlakeResource):
        from ingestion.cdc.sync import sync_source

        settings = radlake.settings()
        try:
            report = sync_source(settings, source)
        except DataError as err:
            # Bad data does not heal by retrying; an unreachable database may.
            raise dg.Failure(str(err), allow_retries=False) from None
        extra = report_metadata(report)
        for spec in specs:
            layer, name = spec.key.path
            uri = catalog.uri(settings, layer, name)  # type: ignore[arg-type]
            yield dg.MaterializeResult(asset_key=spec.key, metadata={**table_metadata(settings, uri), **extra})

    return _sync
