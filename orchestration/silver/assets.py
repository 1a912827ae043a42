"""Silver assets: DICOM roll-ups and silver/exams (by exam day), built by Spark jobs in transforms/."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

from collections import Counter
from collections.abc import Callable, Iterator

import dagster as dg

from orchestration.lineage import lake_asset_args
from orchestration.metadata import partition_metadata, rows_by_partition, table_metadata
from orchestration.owners import SILVER_OWNERS
from orchestration.partitions import daily_partitions, partition_days
from orchestration.resources import RadlakeResource
from radlake import catalog, lake
from radlake.config import Settings
from radlake.lake import Lake
from transforms.dicom import ROLLUP_TABLES

EXAMS_PREVIEW = ["institution", "accession_number", "modality", "status", "priority", "exam_date"]


def _silver_specs(settings: Settings, names: tuple[str, ...], kinds: set[str]) -> list[dg.AssetSpec]:
    """Specs of silver tables one job writes together, described by the catalog (deps: what each reads)."""
    return [
        dg.AssetSpec(**lake_asset_args(settings, catalog.table("silver", name)), owners=SILVER_OWNERS, kinds=kinds)
        for name in names
    ]


def _results_of(
    settings: Settings, names: tuple[str, ...], job: Callable[[], object]
) -> Iterator[dg.MaterializeResult]:
    """Run a job that writes these silver tables together; then one result per table, with what its commits did."""
    uris = {n: Lake(settings).table("silver", n).uri for n in names}
    before = {n: lake.table_version(settings, u) for n, u in uris.items()}
    job()
    for name, uri in uris.items():
        since = before[name] if before[name] is not None else -1
        yield dg.MaterializeResult(
            asset_key=["silver", name], metadata=table_metadata(settings, uri, since_version=since)
        )


def dicom_rollups_asset(settings: Settings) -> dg.AssetsDefinition:
    """The DICOM roll-ups and the DICOMweb index: one Spark job writes them together."""

    @dg.multi_asset(
        specs=_silver_specs(settings, ROLLUP_TABLES, {"delta", "spark"}),
        can_subset=False,
        pool=catalog.writer_pool(catalog.table("silver", "dicom_series")),
    )
    def dicom_rollups(radlake: RadlakeResource):
        """Series and study roll-ups of the landed DICOM instances, and the DICOMweb index (radlake serve)."""
        from transforms.dicom import build_dicom_rollups

        settings = radlake.settings()
        yield from _results_of(settings, ROLLUP_TABLES, lambda: build_dicom_rollups(radlake.spark(), settings))

    return dicom_rollups


def steward_tables(settings: Settings) -> list[dg.AssetSpec]:
    """Tables stewards write through the CLI: inputs of the graph that no asset materialises."""
    specs = []
    for name in ("exam_name_decisions", "empi_decisions"):
        table = catalog.table("silver", name)
        args = lake_asset_args(settings, table)
        args["description"] += f" Written by `{table.writer}`."
        specs.append(dg.AssetSpec(**args, owners=["team:data-stewards"], kinds={"delta"}))
    return specs


EMPI_TABLES = ("patient_master", "patient_golden", "empi_events", "empi_review_queue")


def hl7_received(settings: Settings) -> dg.AssetSpec:
    """Messages the HL7 listener lands: an input of the graph that no asset materialises (the service does)."""
    args = lake_asset_args(settings, catalog.table("bronze", "hl7_messages"))
    args["description"] += " Written by the `radlake hl7 listen` service."
    return dg.AssetSpec(**args, owners=SILVER_OWNERS, kinds={"delta", "hl7"})


HL7_TABLES = ("hl7_orders", "hl7_patient_links", "hl7_patients")
"""What the HL7 fold writes (one asset, one run)."""


def hl7_orders_asset(settings: Settings) -> dg.AssetsDefinition:
    """HL7 orders, patient links and patient records: one fold of the landed messages writes all three."""

    @dg.multi_asset(
        specs=_silver_specs(settings, HL7_TABLES, {"delta", "hl7"}),
        can_subset=False,
        pool=catalog.writer_pool(catalog.table("silver", "hl7_orders")),
    )
    def hl7_orders(radlake: RadlakeResource):
        """HL7 orders and reports folded per accession number; ADT^A40 merges and A01/A04/A08 records for the EMPI."""
        from ingestion.hl7 import apply_messages

        settings = radlake.settings()
        yield from _results_of(settings, HL7_TABLES, lambda: apply_messages(settings))

    return hl7_orders


def empi_asset(settings: Settings) -> dg.AssetsDefinition:
    """The patient master index: one run of the EMPI writes its four silver tables together."""

    @dg.multi_asset(
        specs=_silver_specs(settings, EMPI_TABLES, {"delta", "splink"}),
        can_subset=False,
        pool=catalog.writer_pool(catalog.table("silver", "patient_master")),
    )
    def empi(radlake: RadlakeResource):
        """Link every patient record (incremental against the stored master and model) and publish the index."""
        from transforms.empi import run_empi

        settings = radlake.settings()
        uris = {n: Lake(settings).table("silver", n).uri for n in EMPI_TABLES}
        before = {n: lake.table_version(settings, u) for n, u in uris.items()}
        run = run_empi(settings)
        for name, uri in uris.items():
            meta = table_metadata(settings, uri, since_version=before[name] if before[name] is not None else -1)
            if name == "patient_master":
                meta.update({f"empi.{k}": v for k, v in run.stats.items()})
            yield dg.MaterializeResult(asset_key=["silver", name], metadata=meta)

    return empi


def exam_name_map_asset(settings: Settings) -> dg.AssetsDefinition:
    """silver/exam_name_map: every distinct raw exam name of every institution mapped to standard codes."""
    spec = catalog.table("silver", "exam_name_map")

    @dg.asset(
        **lake_asset_args(settings, spec),
        owners=SILVER_OWNERS,
        kinds={"delta", "spark"},
        pool=catalog.writer_pool(spec),
    )
    def exam_name_map(radlake: RadlakeResource) -> dg.MaterializeResult:
        """Map all distinct raw names with the steward decisions re-applied (new words and decisions apply to all)."""
        from transforms.exam_names import build_exam_name_map

        settings = radlake.settings()
        uri = Lake(settings).table(spec).uri
        before = lake.table_version(settings, uri)
        build_exam_name_map(radlake.spark(), settings)
        meta = table_metadata(
            settings,
            uri,
            since_version=before if before is not None else -1,
            preview_columns=["institution", "raw_name", "codes", "status", "confidence"],
        )
        data = lake.read_arrow(settings, uri, ["status"])
        if data is not None:
            for status, count in Counter(data["status"].to_pylist()).items():
                meta[f"status.{status}"] = count
        return dg.MaterializeResult(metadata=meta)

    return exam_name_map


def exams_asset(settings: Settings) -> dg.AssetsDefinition:
    """silver/exams by exam day, depending on what the catalog says it reads, and on bronze's same days."""
    spec = catalog.table("silver", "exams")

    @dg.asset(
        **lake_asset_args(settings, spec),
        owners=SILVER_OWNERS,
        kinds={"delta", "spark"},
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=catalog.writer_pool(spec),
    )
    def exams(context: dg.AssetExecutionContext, radlake: RadlakeResource) -> dg.MaterializeResult:
        """Rebuild the exams of the partition's days (one run for a whole backfill range)."""
        from transforms.exams import build_exams_table

        settings = radlake.settings()
        first, last = partition_days(context)
        uri = Lake(settings).table(spec).uri
        before = lake.table_version(settings, uri)
        rows = build_exams_table(radlake.spark(), settings, first, last)
        meta = table_metadata(
            settings, uri, since_version=before if before is not None else -1, preview_columns=EXAMS_PREVIEW
        )
        meta = partition_metadata(meta, rows, first, last)
        if first != last:  # one event per day of a ranged run: each day's own count, beside the range's
            meta["rows_by_day"] = dg.MetadataValue.json(rows_by_partition(settings, uri, "exam_date", first, last))
        return dg.MaterializeResult(metadata=meta)

    return exams
