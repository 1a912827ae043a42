"""Bronze assets: DICOM headers by arrival day, and the change logs (and state) of every RIS/HIS source."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

from typing import TYPE_CHECKING

import dagster as dg

from orchestration.bronze.arrivals import files_arrived
from orchestration.failures import cause_failure
from orchestration.lineage import lake_asset_args
from orchestration.metadata import partition_metadata, report_metadata, table_metadata
from orchestration.owners import BRONZE_OWNERS, SILVER_OWNERS
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import RadlakeResource
from orchestration.retries import retry_unreachable, transient_retry_policy
from radlake import catalog, lake
from radlake.config import Settings
from radlake.errors import DataError
from radlake.lake import Lake

if TYPE_CHECKING:
    from ingestion.cdc import SyncReport

DICOM_TABLES = ("dicom_files", "dicom_instances")


def _no_retry(err: DataError) -> dg.Failure:
    return cause_failure(str(err), allow_retries=False)


def dicom_assets(settings: Settings) -> dg.AssetsDefinition:
    """bronze/dicom_files and bronze/dicom_instances, partitioned by the local day files arrived."""

    @dg.multi_asset(
        name="dicom_headers",
        specs=[
            dg.AssetSpec(
                **lake_asset_args(settings, catalog.table("bronze", name)),
                owners=BRONZE_OWNERS,
                kinds={"delta", "python"},
            )
            for name in DICOM_TABLES
        ],
        can_subset=False,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Transient failures (a share remounting) heal; data errors never do (see _no_retry).
        retry_policy=transient_retry_policy(settings.retries),
        pool=catalog.writer_pool(catalog.table("bronze", "dicom_files")),
    )
    def _dicom(context: dg.AssetExecutionContext, radlake: RadlakeResource):
        """Land the headers of DICOM files that arrived in the watch folders on the partition's days.

        Files already landed are skipped, so re-running a day (or a backfill over it) commits nothing new.
        """
        from ingestion.dicom import ensure_tables, ingest_dicom

        settings = radlake.settings()
        first, last = partition_days(context)
        files = files_arrived(settings.dicom.watch, first, last, settings.timezone)
        context.log.info(f"{len(files)} files arrived {first}..{last} in {len(settings.dicom.watch)} watch folders")
        uris = {n: Lake(settings).table("bronze", n).uri for n in DICOM_TABLES}
        before = {n: lake.table_version(settings, u) for n, u in uris.items()}
        try:
            # A file listed at arrival may be moved away before we read it (PACS export cleanup): not an error.
            report = (
                ingest_dicom(settings, files, missing_ok=True, min_age_seconds=settings.dicom.settle_seconds)
                if files
                else None
            )
        except DataError as err:
            raise _no_retry(err) from None
        ensure_tables(settings)
        extra = report_metadata(report)
        # What these days hold: the files that arrived on them and are landed (a re-run over landed files
        # holds them all and adds nothing), never the whole table (issue 33).
        paths = [str(f) for f in files]
        held = {
            name: len(lake.values_present(settings, uri, "file_path", paths)) if paths else 0
            for name, uri in uris.items()
        }
        for name, uri in uris.items():
            meta = table_metadata(settings, uri, since_version=before[name] if before[name] is not None else -1)
            meta = partition_metadata(meta, held[name], first, last)
            yield dg.MaterializeResult(
                asset_key=["bronze", name], metadata={**meta, **extra, "files_arrived": len(files)}
            )

    return _dicom


def _source_tables(settings: Settings, source: str) -> list[str]:
    tables = settings.sources[source].tables
    return [] if tables == ["*"] else list(tables)


def cdc_source_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """One multi-asset per source: each captured table's change log (bronze) and current state (silver).

    A source syncs as one unit (one replication slot, one consistent snapshot), so its tables cannot be
    materialised separately. With ``tables: ["*"]`` the tables are only known at run time, and the source
    appears as one asset ``bronze/<source>``.
    """
    return [_cdc_asset(source, _cdc_specs(settings, source)) for source in settings.sources]


def _cdc_specs(settings: Settings, source: str) -> list[dg.AssetSpec]:
    names = _source_tables(settings, source)
    if not names:
        return [
            dg.AssetSpec(
                ["bronze", source],
                description=f"All captured tables of source {source}.",
                group_name="bronze",
                owners=BRONZE_OWNERS,
                kinds={"delta", "postgres"},
            )
        ]
    specs = []
    for t in names:
        name = catalog.cdc_table_name(source, t)
        specs.append(
            dg.AssetSpec(
                ["bronze", name],
                description=f"Append-only change log of {source}.{t}.",
                group_name="bronze",
                owners=BRONZE_OWNERS,
                kinds={"delta", "postgres"},
            )
        )
        specs.append(
            dg.AssetSpec(
                ["silver", name],
                description=f"Current state of {source}.{t}, merged from its change log.",
                group_name="silver",
                owners=SILVER_OWNERS,
                kinds={"delta", "spark"},
                deps=[["bronze", name]],
            )
        )
    return specs


def _batch_line(report: "SyncReport") -> str:
    """A batch of a CDC sync, for the run's log."""
    lag = "-" if report.lag_bytes is None else f"{report.lag_bytes:,} bytes / {report.lag_seconds or 0:.0f} s"
    return f"batch {report.batches}: {report.changes:,} changes so far, position {report.position}, lag {lag}"


def cdc_asset_name(source: str) -> str:
    """The Dagster name of a source's sync multi-asset (jobs and sensors select it by this)."""
    return f"cdc_{source}"


def _cdc_asset(source: str, specs: list[dg.AssetSpec]) -> dg.AssetsDefinition:
    # An unreachable database is retried inside the step (retry_unreachable), so the run's error is the cause.
    @dg.multi_asset(
        name=cdc_asset_name(source),
        specs=specs,
        can_subset=False,
        pool=catalog.cdc_pool(source),
    )
    def _sync(context: dg.AssetExecutionContext, radlake: RadlakeResource):
        """Land everything the source committed before the run started (its snapshot the first time), batch after
        batch, up to ``cdc.max_sync_seconds``; a sync stopped by that bound marks its outputs as lagging."""
        from ingestion.cdc import sync_source

        settings = radlake.settings()
        uris = {spec.key: Lake(settings).at("/".join(spec.key.path)).uri for spec in specs}
        before = {key: lake.table_version(settings, uri) for key, uri in uris.items()}
        try:
            report = retry_unreachable(
                lambda: sync_source(settings, source, on_batch=lambda r: context.log.info(_batch_line(r))),
                settings.retries,
                context.log,
            )
        except DataError as err:
            raise _no_retry(err) from None
        extra = report_metadata(report)
        # Marts built from this run are built on lagging data: say so where the UI and the stewards look
        # (the same flag is in the source's sync record, see ingestion.cdc.status.last_sync).
        extra["cdc/lagging"] = not report.caught_up
        if report.warning:
            context.log.warning(report.warning)
        for key, uri in uris.items():
            since = before[key] if before[key] is not None else -1
            yield dg.MaterializeResult(
                asset_key=key, metadata={**table_metadata(settings, uri, since_version=since), **extra}
            )

    return _sync
