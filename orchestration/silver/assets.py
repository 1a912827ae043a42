"""Silver assets: DICOM roll-ups and silver/exams (by exam day), built by Spark jobs in transforms/."""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.

from collections import Counter

import dagster as dg

from orchestration.metadata import partition_metadata, rows_by_partition, table_metadata
from orchestration.owners import SILVER_OWNERS
from orchestration.partitions import DAY_TO_SAME_DAY, daily_partitions, partition_days
from orchestration.resources import RadlakeResource
from radlake import catalog, lake
from radlake.config import Settings
from transforms.dicom import ROLLUP_TABLES

EXAMS_PREVIEW = ["institution", "accession_number", "modality", "status", "priority", "exam_date"]


def _silver_specs(names: tuple[str, ...], deps: list[list[str]], kinds: set[str]) -> list[dg.AssetSpec]:
    """Specs of silver tables one job writes together, described by the catalog."""
    return [
        dg.AssetSpec(
            ["silver", name],
            description=catalog.table("silver", name).description,
            group_name="silver",
            owners=SILVER_OWNERS,
            kinds=kinds,
            deps=deps,
        )
        for name in names
    ]


@dg.multi_asset(
    specs=_silver_specs(ROLLUP_TABLES, [["bronze", "dicom_instances"]], {"delta", "spark"}),
    can_subset=False,
    pool=catalog.writer_pool(catalog.table("silver", "dicom_series")),
)
def dicom_rollups(radlake: RadlakeResource):
    """Series and study roll-ups of the landed DICOM instances, and the DICOMweb index (radlake serve)."""
    from transforms.dicom.job import build_dicom_rollups

    settings = radlake.settings()
    uris = {n: catalog.table_uri(settings, catalog.table("silver", n)) for n in ROLLUP_TABLES}
    before = {n: lake.table_version(settings, u) for n, u in uris.items()}
    build_dicom_rollups(radlake.spark(), settings)
    for name, uri in uris.items():
        since = before[name] if before[name] is not None else -1
        yield dg.MaterializeResult(
            asset_key=["silver", name], metadata=table_metadata(settings, uri, since_version=since)
        )


def _ris_deps(settings: Settings, tables: tuple[str, ...]) -> list[list[str]]:
    """The silver CDC tables (or whole-source assets) that hold these RIS tables."""
    deps: list[list[str]] = []
    for source, cfg in settings.sources.items():
        if cfg.tables == ["*"]:
            deps.append(["bronze", source])
        else:
            deps += [["silver", catalog.cdc_table_name(source, t)] for t in tables if t in cfg.tables]
    return deps


STEWARD_TABLES = [
    dg.AssetSpec(
        ["silver", name],
        description=catalog.table("silver", name).description
        + f" Written by `{catalog.table('silver', name).writer}`.",
        group_name="silver",
        owners=["team:data-stewards"],
        kinds={"delta"},
    )
    for name in ("exam_name_decisions", "empi_decisions")
]
"""Tables stewards write through the CLI: inputs of the graph that no asset materialises."""


EMPI_TABLES = ("patient_master", "patient_golden", "empi_events", "empi_review_queue")


def hl7_configured(settings: Settings) -> bool:
    """Whether an HL7 feed is set up (``hl7.allowed_facilities``): then its tables join the graph."""
    return bool(settings.hl7.allowed_facilities)


HL7_RECEIVED = dg.AssetSpec(
    ["bronze", "hl7_messages"],
    description=catalog.table("bronze", "hl7_messages").description + " Written by the `radlake hl7 listen` service.",
    group_name="bronze",
    owners=SILVER_OWNERS,
    kinds={"delta", "hl7"},
)
"""Messages the HL7 listener lands: an input of the graph that no asset materialises (the service does)."""


HL7_TABLES = ("hl7_orders", "hl7_patient_links", "hl7_patients")
"""What the HL7 fold writes (one asset, one run)."""


@dg.multi_asset(
    specs=_silver_specs(HL7_TABLES, [["bronze", "hl7_messages"]], {"delta", "hl7"}),
    can_subset=False,
    pool=catalog.writer_pool(catalog.table("silver", "hl7_orders")),
)
def hl7_orders(radlake: RadlakeResource):
    """HL7 orders and reports folded per accession number; ADT^A40 merges and A01/A04/A08 records for the EMPI."""
    from ingestion.hl7.orders import apply_messages

    settings = radlake.settings()
    uris = {n: catalog.table_uri(settings, catalog.table("silver", n)) for n in HL7_TABLES}
    before = {n: lake.table_version(settings, u) for n, u in uris.items()}
    apply_messages(settings)
    for name, uri in uris.items():
        since = before[name] if before[name] is not None else -1
        yield dg.MaterializeResult(
            asset_key=["silver", name], metadata=table_metadata(settings, uri, since_version=since)
        )


def empi_asset(settings: Settings) -> dg.AssetsDefinition:
    """The patient master index: one run of the EMPI writes its four silver tables together."""
    deps = [*_ris_deps(settings, ("patients",)), ["silver", "dicom_studies"], ["silver", "empi_decisions"]]
    if hl7_configured(settings):
        deps += [["silver", "hl7_patient_links"], ["silver", "hl7_patients"]]

    @dg.multi_asset(
        specs=_silver_specs(EMPI_TABLES, deps, {"delta", "splink"}),
        can_subset=False,
        pool=catalog.writer_pool(catalog.table("silver", "patient_master")),
    )
    def empi(radlake: RadlakeResource):
        """Link every patient record (incremental against the stored master and model) and publish the index."""
        from transforms.empi.job import run_empi

        settings = radlake.settings()
        uris = {n: catalog.table_uri(settings, catalog.table("silver", n)) for n in EMPI_TABLES}
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
        key=["silver", "exam_name_map"],
        description=spec.description,
        group_name="silver",
        owners=SILVER_OWNERS,
        kinds={"delta", "spark"},
        deps=[
            *_ris_deps(settings, ("exam_orders",)),
            ["silver", "exam_name_decisions"],
            *([["silver", "hl7_orders"]] if hl7_configured(settings) else []),
        ],
        pool=catalog.writer_pool(spec),
    )
    def exam_name_map(radlake: RadlakeResource) -> dg.MaterializeResult:
        """Map all distinct raw names with the steward decisions re-applied (new words and decisions apply to all)."""
        from transforms.exam_names.job import build_exam_name_map

        settings = radlake.settings()
        uri = catalog.table_uri(settings, spec)
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
    """silver/exams by exam day, depending on every RIS source's silver tables and the DICOM studies."""
    from transforms.exams.job import RIS_TABLES

    deps: list = [
        # The explicit day link of the partitioned chain: exam day D is rebuilt after bronze has landed the
        # DICOM files that arrived on day D. Exams read the (unpartitioned) study roll-up of every landed
        # file, so this edge carries order, not data; without it Dagster cannot reach silver/exams from the
        # bronze days through the unpartitioned roll-ups, and a backfill of bronze → silver → gold silently
        # leaves silver/exams out (issue 33). Images arriving after their exam day are picked up by the
        # nightly run, which rebuilds the last ``schedule.refresh_days`` days.
        dg.AssetDep(["bronze", "dicom_instances"], partition_mapping=DAY_TO_SAME_DAY),
        ["silver", "dicom_studies"],
        ["silver", "exam_name_map"],
        ["silver", "patient_master"],
        *_ris_deps(settings, RIS_TABLES),
    ]
    if hl7_configured(settings):
        deps.append(["silver", "hl7_orders"])
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
        pool=catalog.writer_pool(spec),
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
        meta = partition_metadata(meta, rows, first, last)
        if first != last:  # one event per day of a ranged run: each day's own count, beside the range's
            meta["rows_by_day"] = dg.MetadataValue.json(rows_by_partition(settings, uri, "exam_date", first, last))
        return dg.MaterializeResult(metadata=meta)

    return exams
