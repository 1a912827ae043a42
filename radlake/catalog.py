"""The lake's table catalog: the one contract per table (name, layer, path, schema, keys, partitioning, writer)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from radlake import _schemas as schemas
from radlake._schemas import (
    DECISION_AUDIT,
    EMPI_DECISIONS,
    EXAMS_COLUMNS,
    FILE_OUTCOMES,
    MAPPED_BY,
    MAPPING_STATUSES,
    ORDER_STATUSES,
    PRIORITIES,
)
from radlake.config import Settings

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = [
    "CDC_LOG_PARTITION_BY",
    "DECISION_AUDIT",
    "EMPI_DECISIONS",
    "EXAMS_COLUMNS",
    "FILE_OUTCOMES",
    "MAPPED_BY",
    "MAPPING_STATUSES",
    "ORDER_STATUSES",
    "PRIORITIES",
    "RIS_EXAM_TABLES",
    "Layer",
    "TableSpec",
    "cdc_patterns",
    "cdc_pool",
    "cdc_table_name",
    "schemas",
    "spark_schema",
    "table",
    "table_uri",
    "tables",
    "uri",
    "writer_pool",
]

Layer = Literal["bronze", "silver", "audit"]


@dataclass(frozen=True)
class TableSpec:
    """One Delta table of the lake.

    Attributes
    ----------
    layer, name
        The table lives at ``<lake>/<layer>/<name>``.
    grain
        What one row is.
    keys
        Columns that identify a row (the MERGE keys where the table is merged).
    partition_by
        Partition columns (``replaceWhere`` targets), empty for unpartitioned tables.
    writer
        The one function that commits to the table, as ``module:function`` (``module:Class.method``); it
        writes through the table's handle (:class:`radlake.lake.Table`). A test resolves every writer, and
        docs/ARCHITECTURE.md names it.
    consumers
        Which code reads it (kept true in docs/ARCHITECTURE.md).
    schema
        The table's columns (Arrow), which the table's handle conforms what is written to
        (:meth:`radlake.lake.Table.conform`); None only for the CDC tables, whose columns follow the source table.
    zorder_by
        Columns upkeep Z-orders the files of each partition by (what readers filter on within a partition);
        empty: plain compaction (:mod:`radlake.maintenance`).
    reads
        What the writer builds the table from: ``layer/name`` of a lake table, or ``ris:<table>`` for a RIS
        table as every CDC source captures it. Dagster's asset dependencies are derived from this
        (:mod:`orchestration.lineage`); empty for tables written from outside the lake (files, messages,
        stewards, services) and for those no asset writes.
    """

    layer: Layer
    name: str
    grain: str
    keys: tuple[str, ...]
    description: str
    writer: str
    consumers: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    pii: bool = field(default=False, compare=False)
    schema: pa.Schema | None = field(default=None, compare=False)
    zorder_by: tuple[str, ...] = ()
    reads: tuple[str, ...] = field(default=(), compare=False)

    @property
    def producer(self) -> str:
        """The writer's module (``ingestion.dicom.landing``), for descriptions."""
        return self.writer.partition(":")[0]

    @property
    def key(self) -> str:
        """``layer/name``: how the table is named in logs, docs and Dagster asset keys."""
        return f"{self.layer}/{self.name}"


# What the writers read (TableSpec.reads); a job that writes several tables reads the same inputs for each.
_FROM_INSTANCES = ("bronze/dicom_instances",)
_EMPI_READS = (
    "ris:patients",
    "silver/dicom_studies",
    "silver/empi_decisions",
    "silver/hl7_patient_links",
    "silver/hl7_patients",
)
_HL7_READS = ("bronze/hl7_messages",)
RIS_EXAM_TABLES = ("exam_orders", "exam_records", "reports", "departments", "devices", "patients")
"""The RIS tables silver/exams is built from (transforms.exams.job reads these of every source)."""

_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        layer="bronze",
        name="dicom_files",
        grain="one file seen by an ingest (first sighting)",
        keys=("file_path",),
        description="Every input file and its outcome: instance, duplicate, conflict or reject (with reason).",
        writer="ingestion.dicom.landing:Lander.commit_files",
        schema=schemas.DICOM_FILES,
        consumers=("expectations.bronze", "dbt: link quality"),
        partition_by=("ingest_date",),
    ),
    TableSpec(
        layer="bronze",
        name="dicom_instances",
        grain="one DICOM SOP instance",
        keys=("sop_instance_uid",),
        description="Decoded DICOM header columns plus the whole header as DICOM JSON.",
        writer="ingestion.dicom.landing:Lander.commit_instances",
        schema=schemas.DICOM_INSTANCES,
        consumers=("transforms.dicom", "transforms.empi", "dbt: dicom_header_completeness (presence flags only)"),
        partition_by=("ingest_date",),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="dicom_series",
        grain="one DICOM series",
        keys=("series_instance_uid",),
        description=(
            "Series roll-up of dicom_instances: instance and frame counts, modality, slice thickness, time span."
        ),
        reads=_FROM_INSTANCES,
        writer="transforms.dicom.job:build_dicom_rollups",
        schema=schemas.DICOM_SERIES,
        # dbt reads this roll-up, never re-derives series from bronze (docs/ARCHITECTURE.md "One DICOM roll-up").
        consumers=("dbt: acquisition_rule_violations, int_dicom_studies (body parts)",),
    ),
    TableSpec(
        layer="silver",
        name="dicom_studies",
        grain="one DICOM study",
        keys=("study_instance_uid",),
        description="Study roll-up: series, instance and frame counts, modalities, accession number, institution.",
        reads=_FROM_INSTANCES,
        writer="transforms.dicom.job:build_dicom_rollups",
        schema=schemas.DICOM_STUDIES,
        consumers=(
            "silver/exams",
            "transforms.empi",
            "dbt: acquisition_rule_violations, dicom_header_completeness, link_quality_orphan_studies, "
            "link_quality_patient_candidates",
        ),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="dicomweb_studies",
        grain="one DICOM study",
        keys=("study_instance_uid",),
        description=(
            "DICOMweb index, study level: the QIDO-RS matching and return keys with ModalitiesInStudy, "
            "NumberOfStudyRelatedSeries/Instances precomputed, and the study's attributes as DICOM JSON."
        ),
        reads=_FROM_INSTANCES,
        writer="transforms.dicom.job:build_dicom_rollups",
        schema=schemas.DICOMWEB_STUDIES,
        consumers=("services.dicomweb",),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="dicomweb_series",
        grain="one DICOM series",
        keys=("series_instance_uid",),
        description="DICOMweb index, series level: matching and return keys, instance count, series attributes.",
        reads=_FROM_INSTANCES,
        writer="transforms.dicom.job:build_dicom_rollups",
        schema=schemas.DICOMWEB_SERIES,
        consumers=("services.dicomweb",),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="dicomweb_instances",
        grain="one DICOM SOP instance",
        keys=("sop_instance_uid",),
        description=(
            "DICOMweb index, instance level: matching keys, the stored file and its landed checksum, and the "
            "landed header (WADO-RS metadata); partitioned by a bucket of the Study Instance UID."
        ),
        reads=_FROM_INSTANCES,
        writer="transforms.dicom.job:build_dicom_rollups",
        schema=schemas.DICOMWEB_INSTANCES,
        consumers=("services.dicomweb",),
        partition_by=("study_bucket",),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="dicom_frames",
        grain="one frame of an enhanced multi-frame DICOM instance (per-frame functional groups)",
        keys=("sop_instance_uid", "frame_number"),
        description=(
            "Per-frame functional group values of enhanced multi-frame instances (position, orientation, slice "
            "location and thickness, acquisition time, dimension indices, stack, window), taken out of header_json "
            "at landing; partitioned by a bucket of the Study Instance UID."
        ),
        reads=_FROM_INSTANCES,
        writer="transforms.dicom.job:build_dicom_rollups",
        schema=schemas.DICOM_FRAMES,
        consumers=("analysts: slice positions and timing of enhanced CT/MR",),
        partition_by=("study_bucket",),
    ),
    TableSpec(
        layer="silver",
        name="exams",
        grain="one ordered exam (RIS order line) of one institution",
        keys=("institution", "accession_number"),
        description=(
            "RIS orders joined with exam records, reports, departments, devices and the DICOM study "
            "(on accession number), with the standard exam codes."
        ),
        reads=(
            "silver/dicom_studies",
            "silver/exam_name_map",
            "silver/patient_master",
            "silver/hl7_orders",
            *(f"ris:{t}" for t in RIS_EXAM_TABLES),
        ),
        writer="transforms.exams.job:build_exams_table",
        schema=schemas.EXAMS,
        consumers=("dbt: all marts", "expectations.silver"),
        partition_by=("exam_date",),
        # The marts and dashboards select by institution and modality within an exam day.
        zorder_by=("institution", "modality"),
    ),
    TableSpec(
        layer="silver",
        name="exam_name_map",
        grain="one raw exam name of one institution",
        keys=("institution", "raw_name"),
        description="Raw exam name → 14-digit standard codes, confidence, status, standard version.",
        reads=("ris:exam_orders", "silver/exam_name_decisions", "silver/hl7_orders"),
        writer="transforms.exam_names.job:build_exam_name_map",
        schema=schemas.EXAM_NAME_MAP,
        consumers=("silver/exams", "dbt: standard coverage", "stewards: review queue"),
    ),
    TableSpec(
        layer="silver",
        name="exam_name_decisions",
        grain="the steward decision in force on one raw exam name of one institution",
        keys=("institution", "raw_name"),
        description=(
            "Steward-confirmed mappings, upserted per name (earlier ones in the table's history); they always "
            "win over the engine."
        ),
        writer="transforms.exam_names.store:save_decisions",
        schema=schemas.EXAM_NAME_DECISIONS,
        consumers=("transforms.exam_names",),
    ),
    TableSpec(
        layer="silver",
        name="patient_master",
        grain="one patient record of one source system",
        keys=("record_id",),
        description="Record → empi_id, match probability and the rule that linked it.",
        reads=_EMPI_READS,
        writer="transforms.empi.job:run_empi",
        schema=schemas.PATIENT_MASTER,
        consumers=("silver/exams", "dbt: link quality"),
    ),
    TableSpec(
        layer="silver",
        name="patient_golden",
        grain="one person (empi_id)",
        keys=("empi_id",),
        description="Best name, sex, birth date, ID number, phones and source records per person.",
        reads=_EMPI_READS,
        writer="transforms.empi.job:run_empi",
        schema=schemas.PATIENT_GOLDEN,
        consumers=("patient-360 views (not in gold: personal data)",),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="empi_events",
        grain="one merge, split or creation of an empi_id",
        keys=("event_id",),
        description="Audit trail of identity decisions.",
        reads=_EMPI_READS,
        writer="transforms.empi.job:run_empi",
        schema=schemas.EMPI_EVENTS,
        consumers=("stewards",),
    ),
    TableSpec(
        layer="silver",
        name="empi_decisions",
        grain="the steward decision in force on one unordered pair of records (record_id_a < record_id_b)",
        keys=("record_id_a", "record_id_b"),
        description=(
            "Link / never-link decisions, upserted per pair (earlier ones in the table's history); always "
            "respected by the matcher."
        ),
        writer="transforms.empi.store:save_decisions",
        schema=schemas.EMPI_DECISIONS_SCHEMA,
        consumers=("transforms.empi",),
    ),
    TableSpec(
        layer="silver",
        name="empi_review_queue",
        grain="one undecided pair of patient records a steward should look at",
        keys=("record_id_a", "record_id_b"),
        description=(
            "One pair per two persons a steward can decide (uncertain, or refused by a guard), largest first; "
            "replaced each run."
        ),
        reads=_EMPI_READS,
        writer="transforms.empi.job:run_empi",
        schema=schemas.EMPI_REVIEW_QUEUE,
        consumers=("radlake empi review export",),
        pii=True,
    ),
    TableSpec(
        layer="bronze",
        name="hl7_messages",
        grain="one HL7 v2 message accepted by the listener (by sending facility and control id)",
        keys=("sending_facility", "control_id"),
        description="Every accepted HL7 message, decoded, as stored before its ACK; a resent one is no new row.",
        writer="ingestion.hl7.landing:land_segment",
        schema=schemas.HL7_MESSAGES,
        consumers=("silver/hl7_orders", "silver/hl7_patient_links", "silver/hl7_patients"),
        partition_by=("receive_date",),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="hl7_orders",
        grain="one ordered exam of one institution as its HL7 orders and reports left it",
        keys=("institution", "accession_number"),
        description="ORM/OMI orders and ORU reports folded per accession number, in message order.",
        reads=_HL7_READS,
        writer="ingestion.hl7.orders:apply_messages",
        schema=schemas.HL7_ORDERS,
        consumers=("silver/exams",),
    ),
    TableSpec(
        layer="silver",
        name="hl7_patient_links",
        grain="one ADT^A40 merge of two patient records",
        keys=("record_id_a", "record_id_b"),
        description="Patient merges the RIS announced (ADT^A40); the EMPI takes them as steward-grade links.",
        reads=_HL7_READS,
        writer="ingestion.hl7.orders:apply_messages",
        schema=schemas.HL7_PATIENT_LINKS,
        consumers=("transforms.empi",),
    ),
    TableSpec(
        layer="silver",
        name="hl7_patients",
        grain="one patient record of one institution as its HL7 registrations and updates left it",
        keys=("record_id",),
        description="ADT^A01/A04/A08 patient demographics folded per record in message order; EMPI input.",
        reads=_HL7_READS,
        writer="ingestion.hl7.orders:apply_messages",
        schema=schemas.HL7_PATIENTS,
        consumers=("transforms.empi",),
        pii=True,
    ),
    TableSpec(
        layer="bronze",
        name="pacs_pull_state",
        grain="one study of one PACS being pulled",
        keys=("peer", "study_instance_uid"),
        description="Each study found by C-FIND and how far its retrieve got (instances expected and received).",
        writer="ingestion.pacs.state:save_states",
        schema=schemas.PACS_PULL_STATE,
        consumers=("radlake pacs pull (resume)",),
    ),
    TableSpec(
        layer="silver",
        name="cohort_members",
        grain="one study of a research cohort's newest build",
        keys=("cohort", "study_instance_uid"),
        description=(
            "The studies a cohort rule (cohorts/<name>.yaml) selects, with the rule's hash, the build number and "
            "time; each build replaces the cohort's rows (earlier builds stay in the table's history)."
        ),
        writer="transforms.cohorts.job:build_cohort",
        schema=schemas.COHORT_MEMBERS,
        consumers=("transforms.export", "services (a space bound to the cohort)"),
        pii=True,
    ),
    TableSpec(
        layer="silver",
        name="export_instances",
        grain="one source instance of a cohort's de-identified export",
        keys=("cohort", "sop_instance_uid"),
        description=(
            "What each export did with each instance: new UIDs, the file's path and hashes in the bag, outcome "
            "(exported, quarantined, failed) and reason. The real-to-new UID map: stewards only."
        ),
        writer="transforms.export.job:ExportRun.commit",
        schema=schemas.EXPORT_INSTANCES,
        consumers=("stewards (who received what)", "radlake export (resuming)"),
        pii=True,
    ),
    TableSpec(
        layer="bronze",
        name="routing_results",
        grain="one result an AI sent back (a structured report, a secondary capture or a JSON finding)",
        keys=("result_id",),
        description=(
            "AI results linked to the source study by its Study Instance UID: which AI, when it landed, when the "
            "study's first image landed (turnaround)."
        ),
        writer="ingestion.routing.results:commit_results",
        schema=schemas.ROUTING_RESULTS,
        consumers=("radlake route status", "stewards (which AI ran on which study)"),
    ),
    TableSpec(
        layer="audit",
        name="routing_queue",
        grain="one state change of one (instance, destination) pair",
        keys=("sop_instance_uid", "destination", "event_at"),
        description=(
            "The durable routing queue: queued, retry, sent or dead per instance and destination, with attempts, "
            "the last error and the peer's status; the newest row of a pair is its state."
        ),
        writer="ingestion.routing.queue:QueueLog.commit",
        schema=schemas.ROUTING_QUEUE,
        consumers=("ingestion.routing (restart resumes from it)", "radlake route status", "Dagster routing asset"),
        pii=True,
    ),
    TableSpec(
        layer="audit",
        name="service_requests",
        grain="one request to a data service (radlake serve)",
        keys=("request_id",),
        description=(
            "Who asked which data space for what, and the outcome: token id, space, path, parameters, "
            "result count, status, duration. Pruned past serve.audit_retention_days."
        ),
        writer="radlake.audit:AuditLog.flush",
        schema=schemas.SERVICE_REQUESTS,
        consumers=("stewards (access review)",),
        partition_by=("request_date",),
        pii=True,
    ),
    TableSpec(
        layer="audit",
        name="sql_queries",
        grain="one statement a client sent the SQL endpoint",
        keys=("query_id",),
        description=(
            "Who ran what on the published marts through radlake sql serve: account, data space, database, "
            "statement (truncated), rows, status, duration, the build it read. Appended in batches."
        ),
        writer="radlake.audit:AuditLog.flush",
        schema=schemas.SQL_QUERIES,
        consumers=("security review", "docs/SECURITY.md"),
        partition_by=("query_date",),
        # A statement's text may hold identifiers a steward looked up: the audit trail is personal data.
        pii=True,
    ),
)

# Change logs are partitioned by the local day of the change: a day's changes are one folder to keep or drop.
CDC_LOG_PARTITION_BY = ("_change_date",)


def cdc_patterns() -> tuple[TableSpec, TableSpec]:
    """The two tables of every captured source table (name ``<source>__<table>``; columns follow the source)."""
    name = "<source>__<table>"  # see cdc_table_name
    log = TableSpec(
        layer="bronze",
        name=name,
        grain="one captured change (or snapshot row) of one source row",
        keys=("_batch_id", "_seq"),
        description="Append-only change log of a source table: op, columns, position, commit time.",
        writer="ingestion.cdc.state:append_log",
        consumers=(f"silver/{name}",),
        partition_by=CDC_LOG_PARTITION_BY,
    )
    state = TableSpec(
        layer="silver",
        name=name,
        grain="one current row of the source table",
        keys=("<the source's primary key>",),
        description="Current state of a source table, kept by MERGE from the change log.",
        writer="ingestion.cdc.apply:apply_batch",
        consumers=("silver/exams", "transforms.empi"),
    )
    return log, state


def writer_pool(spec: TableSpec) -> str:
    """The Dagster concurrency pool of a table's writer (``lake:<writer module>``).

    Every asset that writes the table runs in this pool, and the instance gives each pool one slot, so two runs
    (a schedule, a backfill, "Materialize all", a sensor's run in another pod) never run one writer at once.
    """
    return f"lake:{spec.producer}"


def cdc_pool(source: str) -> str:
    """The Dagster concurrency pool of one source's CDC sync (its change logs and silver tables)."""
    return f"lake:cdc:{source}"


def spark_schema(spec: TableSpec) -> StructType:
    """The table's schema as a Spark StructType (zone-less Arrow timestamps become TIMESTAMP_NTZ).

    Raises
    ------
    KeyError
        The table has no fixed schema.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_fixed_schema(spec), prefer_timestamp_ntz=True)


def _fixed_schema(spec: TableSpec) -> pa.Schema:
    if spec.schema is None:
        raise KeyError(f"{spec.key} has no fixed schema in the catalog")
    return spec.schema


def tables() -> tuple[TableSpec, ...]:
    """All fixed tables (CDC tables are per source: see :func:`cdc_patterns`)."""
    return _TABLES


def table(layer: Layer, name: str) -> TableSpec:
    """Look up a fixed table by layer and name.

    Raises
    ------
    KeyError
        If the catalog has no such table.
    """
    for spec in _TABLES:
        if spec.layer == layer and spec.name == name:
            return spec
    raise KeyError(f"no table {layer}/{name} in the catalog")


_PLAIN_TABLE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def cdc_table_name(source: str, source_table: str) -> str:
    """``<source>__<table>``: the lake name (a folder, an asset key) of a captured source table.

    A plain lower-case name (``exam_orders``) is used as it is. Any other legal PostgreSQL name (spaces,
    quotes, backticks, ``/``, ``..``, Chinese, mixed case) becomes ``<slug>__<base32 of its UTF-8>``: only
    ``[a-z0-9_]``, so no path separator or ``..`` ever reaches a path, and two names that differ only in case
    stay two folders even on a case-insensitive file system. Plain names never contain ``__``, so the two
    forms cannot collide, and :func:`cdc_source_table` turns a lake name back into the source name.
    """
    if not source_table or _PLAIN_TABLE.fullmatch(source_table):
        return f"{source}__{source_table}"
    slug = re.sub(r"[^a-z0-9]+", "_", source_table.lower()).strip("_")[:40].strip("_") or "t"
    code = base64.b32encode(source_table.encode("utf-8")).decode("ascii").rstrip("=").lower()
    return f"{source}__{slug}__{code}"


def cdc_source_table(source: str, lake_name: str) -> str | None:
    """The source table a lake name of :func:`cdc_table_name` stands for, or None when it is not one of them."""
    prefix = f"{source}__"
    if not lake_name.startswith(prefix) or len(lake_name) == len(prefix):
        return None
    rest = lake_name[len(prefix) :]
    if _PLAIN_TABLE.fullmatch(rest):
        return rest
    _slug, _, code = rest.rpartition("__")
    try:
        name = base64.b32decode(code.upper() + "=" * (-len(code) % 8)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return name if cdc_table_name(source, name) == lake_name else None


def table_uri(settings: Settings, spec: TableSpec) -> str:
    """Where a table lives: ``<lake>/<layer>/<name>`` (a local absolute path or an s3:// URI)."""
    return f"{settings.lake}/{spec.layer}/{spec.name}"


def uri(settings: Settings, layer: Layer, name: str) -> str:
    """Where a table named ``layer/name`` lives, whether fixed or a CDC table."""
    return f"{settings.lake}/{layer}/{name}"
