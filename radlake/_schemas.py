"""The Arrow schemas and value lists of the lake's tables (the catalog's tables of columns; see catalog.py).

One definition per table: producers conform their rows to these, Spark jobs derive their StructTypes from
them (:func:`radlake.catalog.spark_schema`), quality suites and dbt ``accepted_values`` take their value
lists from here (a test compares the dbt YAML with these lists).
"""

from __future__ import annotations

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")
LOCAL_TS = pa.timestamp("us")  # a local wall-clock time (the modality's), no zone

# --- Value lists ---------------------------------------------------------------------------------------------

FILE_OUTCOMES = ("instance", "duplicate", "conflict", "reject")
"""bronze/dicom_files.outcome."""

ORDER_STATUSES = ("ordered", "scheduled", "in_progress", "completed", "cancelled")
"""silver/exams.status (RIS order status)."""

PRIORITIES = ("routine", "emergency", "consult")
"""silver/exams.priority."""

MAPPING_STATUSES = ("matched", "review", "unmatched", "not_exam")
"""silver/exam_name_map.status (and silver/exams.exam_name_status, which adds ``unmapped`` in marts)."""

MAPPED_BY = ("engine", "steward")
"""silver/exam_name_map.mapped_by: the engine's own guess, or a steward decision on that exact name."""

EMPI_DECISIONS = ("link", "never_link")
"""silver/empi_decisions.decision."""

# --- Steward decisions: one audit trio on every decisions table -----------------------------------------------

DECISION_AUDIT = (
    pa.field("decided_by", pa.string()),  # the person who decided (never a kind of decision)
    pa.field("decided_at", UTC_TS),
    pa.field("note", pa.string()),  # why, in the steward's words (may be empty)
)

# --- Bronze ----------------------------------------------------------------------------------------------------

DICOM_FILES = pa.schema(
    [
        ("file_path", pa.string()),
        ("file_size", pa.int64()),
        ("file_mtime", UTC_TS),
        ("sha256", pa.string()),
        ("outcome", pa.string()),
        ("sop_instance_uid", pa.string()),
        ("reason", pa.string()),
        ("landed_sha256", pa.string()),
        ("source", pa.string()),
        ("first_seen_at", UTC_TS),
        ("ingest_date", pa.date32()),
    ]
)
"""bronze/dicom_files: one row per file seen; ``landed_sha256`` is the checksum of the instance a
duplicate or conflict collides with (the file's own is ``sha256``)."""

DICOM_FRAME = pa.struct(
    [
        ("frame_number", pa.int32()),  # 1-based, the item's place in the Per-frame Functional Groups Sequence
        ("image_position_patient", pa.list_(pa.float64())),  # (0020,9113)>(0020,0032)
        ("image_orientation_patient", pa.list_(pa.float64())),  # (0020,9116)>(0020,0037)
        ("slice_location", pa.float64()),  # the position projected on the plane's normal (row x column)
        ("slice_thickness", pa.float64()),  # (0028,9110)>(0018,0050)
        ("pixel_spacing", pa.list_(pa.float64())),  # (0028,9110)>(0028,0030)
        ("frame_acquisition_datetime", LOCAL_TS),  # (0020,9111)>(0018,9074), the modality's local time
        ("dimension_index_values", pa.list_(pa.int64())),  # (0020,9111)>(0020,9157)
        ("stack_id", pa.string()),  # (0020,9111)>(0020,9056)
        ("in_stack_position_number", pa.int32()),  # (0020,9111)>(0020,9057)
        ("temporal_position_index", pa.int32()),  # (0020,9111)>(0020,9128)
        ("window_center", pa.float64()),  # (0028,9132)>(0028,1050), first value
        ("window_width", pa.float64()),  # (0028,9132)>(0028,1051), first value
    ]
)
"""One frame's functional group values: its per-frame item's, else the shared groups'."""

DICOM_INSTANCE_FILE_COLUMNS = pa.schema(
    [
        ("sop_instance_uid", pa.string()),
        ("sop_class_uid", pa.string()),
        ("study_instance_uid", pa.string()),
        ("series_instance_uid", pa.string()),
        ("patient_id", pa.string()),
        ("patient_name", pa.string()),
        ("patient_sex", pa.string()),
        ("patient_birth_date", pa.date32()),
        ("accession_number", pa.string()),
        ("modality", pa.string()),
        ("study_date", pa.date32()),
        ("study_date_raw", pa.string()),
        ("study_time", pa.string()),
        ("study_description", pa.string()),
        ("series_description", pa.string()),
        ("series_number", pa.int32()),
        ("instance_number", pa.int32()),
        ("body_part_examined", pa.string()),
        ("institution_name", pa.string()),
        ("station_name", pa.string()),
        ("manufacturer", pa.string()),
        ("manufacturer_model_name", pa.string()),
        ("slice_thickness", pa.float64()),
        ("kvp", pa.float64()),
        ("exposure_mas", pa.float64()),
        ("acquisition_datetime", LOCAL_TS),
        ("transfer_syntax_uid", pa.string()),
        ("specific_character_set", pa.string()),
        ("charset_inferred", pa.bool_()),
        ("inferred_character_set", pa.string()),
        ("file_path", pa.string()),
        ("file_sha256", pa.string()),
        ("file_size", pa.int64()),
        ("header_json", pa.string()),
        ("number_of_frames", pa.int32()),
        ("frames", pa.list_(DICOM_FRAME)),
    ]
)
"""Columns of bronze/dicom_instances that come from the file (landing adds the ingest columns).
``number_of_frames``: frames of pixel data, Number of Frames (0028,0008), else 1 for an image (Rows present),
else null. ``frames``: the per-frame functional group values of an enhanced multi-frame object, one struct per
frame (null without per-frame groups); ``header_json`` then holds their summary (ingestion.dicom.frames)."""

DICOM_INSTANCES = pa.schema([*DICOM_INSTANCE_FILE_COLUMNS, ("ingested_at", UTC_TS), ("ingest_date", pa.date32())])
"""bronze/dicom_instances."""

# --- Silver ----------------------------------------------------------------------------------------------------

DICOM_SERIES = pa.schema(
    [
        pa.field("series_instance_uid", pa.string(), nullable=False),
        ("study_instance_uid", pa.string()),
        ("modality", pa.string()),
        ("series_number", pa.int32()),
        ("series_description", pa.string()),
        ("body_part_examined", pa.string()),
        ("accession_number", pa.string()),
        ("institution_name", pa.string()),
        ("station_name", pa.string()),
        ("manufacturer", pa.string()),
        ("manufacturer_model_name", pa.string()),
        ("study_date", pa.date32()),
        pa.field("instance_count", pa.int64(), nullable=False),
        ("min_slice_thickness", pa.float64()),
        ("max_slice_thickness", pa.float64()),
        ("first_acquired_at", LOCAL_TS),
        ("last_acquired_at", LOCAL_TS),
        ("last_ingested_at", UTC_TS),
        pa.field("frame_count", pa.int64(), nullable=False),
    ]
)
"""silver/dicom_series. ``first_acquired_at``/``last_acquired_at``: the series' time span, in the local time
of the modality (acquisition date-time, else content or series date-time)."""

DICOM_STUDIES = pa.schema(
    [
        pa.field("study_instance_uid", pa.string(), nullable=False),
        ("accession_number", pa.string()),
        ("patient_id", pa.string()),
        ("patient_name", pa.string()),
        ("patient_sex", pa.string()),
        ("patient_birth_date", pa.date32()),
        ("study_date", pa.date32()),
        ("study_date_raw", pa.string()),
        ("study_time", pa.string()),
        ("study_description", pa.string()),
        ("institution_name", pa.string()),
        ("station_name", pa.string()),
        pa.field("modalities", pa.list_(pa.string()), nullable=False),
        pa.field("series_count", pa.int64(), nullable=False),
        pa.field("instance_count", pa.int64(), nullable=False),
        ("min_slice_thickness", pa.float64()),
        ("max_slice_thickness", pa.float64()),
        ("first_acquired_at", LOCAL_TS),
        ("last_acquired_at", LOCAL_TS),
        ("last_ingested_at", UTC_TS),
        pa.field("frame_count", pa.int64(), nullable=False),
    ]
)
"""silver/dicom_studies: one row per study, ``modalities`` sorted and distinct."""

DICOMWEB_STUDIES = pa.schema(
    [
        pa.field("study_instance_uid", pa.string(), nullable=False),
        ("patient_id", pa.string()),
        ("patient_name", pa.string()),  # the PN value as written: Alphabetic=Ideographic=Phonetic
        ("patient_birth_date", pa.string()),  # DA as written
        ("patient_sex", pa.string()),
        ("accession_number", pa.string()),
        ("study_date", pa.date32()),
        ("study_time", pa.string()),  # HHMMSS[.frac], normalised to at least six digits
        ("study_id", pa.string()),
        ("referring_physician_name", pa.string()),
        ("study_description", pa.string()),
        ("institution_name", pa.string()),
        pa.field("modalities", pa.list_(pa.string()), nullable=False),
        pa.field("sop_classes", pa.list_(pa.string()), nullable=False),
        pa.field("series_count", pa.int64(), nullable=False),
        pa.field("instance_count", pa.int64(), nullable=False),
        ("study_json", pa.string()),  # study-level attributes (patient, study) of the study's first instance
        ("last_ingested_at", UTC_TS),
    ]
)
"""silver/dicomweb_studies: the DICOMweb index at study level (QIDO-RS matching and return keys, precomputed)."""

DICOMWEB_SERIES = pa.schema(
    [
        pa.field("series_instance_uid", pa.string(), nullable=False),
        ("study_instance_uid", pa.string()),
        ("modality", pa.string()),
        ("series_number", pa.int32()),
        ("series_description", pa.string()),
        ("series_date", pa.string()),
        ("series_time", pa.string()),
        ("body_part_examined", pa.string()),
        ("institution_name", pa.string()),
        ("pps_start_date", pa.string()),  # Performed Procedure Step Start Date (0040,0244) as written
        ("pps_start_time", pa.string()),
        pa.field("scheduled_step_ids", pa.list_(pa.string()), nullable=False),  # (0040,0275)>(0040,0009)
        pa.field("requested_procedure_ids", pa.list_(pa.string()), nullable=False),  # (0040,0275)>(0040,1001)
        pa.field("instance_count", pa.int64(), nullable=False),
        ("series_json", pa.string()),  # series-level attributes of the series' first instance
        ("last_ingested_at", UTC_TS),
    ]
)
"""silver/dicomweb_series: the DICOMweb index at series level."""

DICOMWEB_INSTANCES = pa.schema(
    [
        pa.field("sop_instance_uid", pa.string(), nullable=False),
        ("series_instance_uid", pa.string()),
        ("study_instance_uid", pa.string()),
        ("sop_class_uid", pa.string()),
        ("instance_number", pa.int32()),
        ("rows", pa.int32()),
        ("columns", pa.int32()),
        ("bits_allocated", pa.int32()),
        ("number_of_frames", pa.int32()),
        ("transfer_syntax_uid", pa.string()),
        ("file_path", pa.string()),
        ("file_sha256", pa.string()),
        ("header_json", pa.string()),  # the landed header (bronze), read only for WADO-RS metadata
        ("ingested_at", UTC_TS),
        pa.field("study_bucket", pa.int32(), nullable=False),  # partition: 0-255 from the Study Instance UID
    ]
)
"""silver/dicomweb_instances: the DICOMweb index at instance level, with the landed header and file checksum;
partitioned by ``study_bucket`` so that a study's headers are read from one folder."""

DICOM_FRAMES = pa.schema(
    [
        pa.field("sop_instance_uid", pa.string(), nullable=False),
        pa.field("frame_number", pa.int32(), nullable=False),
        ("series_instance_uid", pa.string()),
        ("study_instance_uid", pa.string()),
        *[f for f in DICOM_FRAME if f.name != "frame_number"],
        ("last_ingested_at", UTC_TS),
        pa.field("study_bucket", pa.int32(), nullable=False),  # partition: 0-255 from the Study Instance UID
    ]
)
"""silver/dicom_frames: one row per frame of an enhanced multi-frame instance (per-frame functional groups),
partitioned by ``study_bucket`` as silver/dicomweb_instances."""

EXAM_NAME_MAP = pa.schema(
    [
        ("institution", pa.string()),
        ("raw_name", pa.string()),
        ("codes", pa.list_(pa.string())),
        ("standard_names", pa.list_(pa.string())),
        ("status", pa.string()),
        ("confidence", pa.float64()),
        ("standard_version", pa.string()),
        ("mapped_by", pa.string()),  # engine or steward: what gave the codes (a kind, not a person)
        ("unrecognised", pa.list_(pa.string())),
        ("mapped_at", UTC_TS),
    ]
)
"""silver/exam_name_map: one row per (institution, raw_name); ``unrecognised`` names the parts of the name
the engine did not understand (such a name is never accepted automatically)."""

EXAM_NAME_DECISIONS = pa.schema(
    [
        ("institution", pa.string()),
        ("raw_name", pa.string()),
        ("codes", pa.list_(pa.string())),
        ("not_exam", pa.bool_()),
        *DECISION_AUDIT,
    ]
)
"""silver/exam_name_decisions: the decision in force per (institution, raw_name); institution ``*`` is global."""

EMPI_DECISIONS_SCHEMA = pa.schema(
    [
        ("record_id_a", pa.string()),
        ("record_id_b", pa.string()),
        ("decision", pa.string()),
        *DECISION_AUDIT,
    ]
)
"""silver/empi_decisions: the decision in force per unordered pair (``record_id_a < record_id_b``)."""

EXAMS = pa.schema(
    [
        pa.field("institution", pa.string(), nullable=False),
        ("accession_number", pa.string()),
        # The RIS's own keys, as text: one hospital's are numbers, another's carry letters (RIS2026...).
        ("order_id", pa.string()),
        ("patient_id", pa.string()),
        ("mrn", pa.string()),
        ("empi_id", pa.string()),
        ("priority", pa.string()),
        ("ordering_department", pa.string()),
        ("raw_exam_name", pa.string()),
        ("modality", pa.string()),
        ("status", pa.string()),
        ("ordered_at", UTC_TS),
        ("exam_started_at", UTC_TS),
        ("exam_ended_at", UTC_TS),
        ("exam_date", pa.date32()),
        ("device_station", pa.string()),
        ("report_status", pa.string()),
        ("report_written_at", UTC_TS),
        ("report_signed_at", UTC_TS),
        ("study_instance_uid", pa.string()),
        pa.field("has_images", pa.bool_(), nullable=False),
        ("exam_codes", pa.list_(pa.string())),
        ("exam_name_status", pa.string()),
    ]
)
"""silver/exams: one row per (institution, accession_number); ``exam_date`` is the local day the exam started
(else was ordered), its partition column."""

EXAMS_COLUMNS: tuple[str, ...] = tuple(EXAMS.names)
"""Columns of silver/exams, in order."""

# --- Silver: the patient master index (transforms.empi) ---------------------------------------------------------

PATIENT_MASTER = pa.schema(
    [
        ("record_id", pa.string()),
        ("source_system", pa.string()),
        ("mrn", pa.string()),
        ("empi_id", pa.string()),
        ("match_probability", pa.float64()),
        ("link_rule", pa.string()),
        ("linked_at", UTC_TS),
    ]
)
"""silver/patient_master: one row per source record (see transforms.empi.master)."""

PATIENT_GOLDEN = pa.schema(
    [
        ("empi_id", pa.string()),
        ("name", pa.string()),
        ("sex", pa.string()),
        ("birth_date", pa.date32()),
        ("id_number", pa.string()),
        ("phones", pa.list_(pa.string())),
        ("source_records", pa.list_(pa.string())),
        ("updated_at", UTC_TS),
    ]
)
"""silver/patient_golden: one row per person (see transforms.empi.golden)."""

EMPI_EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("event", pa.string()),
        ("empi_id", pa.string()),
        ("other_empi_ids", pa.list_(pa.string())),
        ("record_ids", pa.list_(pa.string())),
        ("reason", pa.string()),
        ("occurred_at", UTC_TS),
        ("empi_run", pa.int64()),  # the run that wrote the event (a re-run after a crash replaces its own)
    ]
)
"""silver/empi_events: one row per creation, merge or split of an empi_id."""

EMPI_REVIEW_QUEUE = pa.schema(
    [
        ("record_id_a", pa.string()),
        ("record_id_b", pa.string()),
        ("empi_id_a", pa.string()),
        ("empi_id_b", pa.string()),
        ("match_probability", pa.float64()),
        ("reason", pa.string()),
        ("records_affected", pa.int64()),
        ("name_a", pa.string()),
        ("name_b", pa.string()),
        ("birth_date_a", pa.string()),
        ("birth_date_b", pa.string()),
        ("decision", pa.string()),  # empty: the steward fills it in the exported file
    ]
)
"""silver/empi_review_queue: one undecided pair per two persons (see transforms.empi.review)."""

COHORT_MEMBERS = pa.schema(
    [
        pa.field("cohort", pa.string(), nullable=False),
        pa.field("study_instance_uid", pa.string(), nullable=False),
        ("institution", pa.string()),
        ("accession_number", pa.string()),
        ("patient_key", pa.string()),  # the master-index id, else institution:patient_id (date offsets, pseudonyms)
        ("exam_date", pa.date32()),
        ("rule_hash", pa.string()),
        ("build", pa.int64()),  # 1 for the first build of the cohort, then one more per build
        ("built_at", UTC_TS),
    ]
)
"""silver/cohort_members: one row per study of a cohort's newest build (earlier builds: the table's history)."""

EXPORT_INSTANCES = pa.schema(
    [
        pa.field("cohort", pa.string(), nullable=False),
        pa.field("sop_instance_uid", pa.string(), nullable=False),
        ("study_instance_uid", pa.string()),
        ("series_instance_uid", pa.string()),
        ("new_sop_instance_uid", pa.string()),
        ("new_study_instance_uid", pa.string()),
        ("new_series_instance_uid", pa.string()),
        ("destination", pa.string()),
        ("relative_path", pa.string()),  # inside the bag: data/<study>/<series>/<instance>.dcm
        ("sha256", pa.string()),
        ("md5", pa.string()),
        ("file_size", pa.int64()),
        ("outcome", pa.string()),  # exported, quarantined, failed
        ("reason", pa.string()),
        ("rule_hash", pa.string()),
        ("exported_at", UTC_TS),
    ]
)
"""silver/export_instances: one row per source instance of a cohort's export (stewards' side: it maps real to
new UIDs)."""

EXPORT_OUTCOMES = ("exported", "quarantined", "failed")
"""silver/export_instances.outcome."""

# --- Audit -----------------------------------------------------------------------------------------------------

SERVICE_REQUESTS = pa.schema(
    [
        ("request_id", pa.string()),
        ("requested_at", UTC_TS),
        ("request_date", pa.date32()),
        ("token_id", pa.string()),  # the token's public id, never the secret; empty when none was given
        ("space", pa.string()),
        ("service", pa.string()),  # dicomweb, fhir, p360, ...
        ("method", pa.string()),
        ("path", pa.string()),
        ("params", pa.string()),  # the query string, cut at 2,000 characters
        ("status", pa.int32()),
        ("result_count", pa.int64()),  # resources or rows returned (null for errors)
        ("duration_ms", pa.float64()),
        ("client", pa.string()),  # the peer's address as the service saw it
        ("reason", pa.string()),  # why a request was refused (4xx/5xx), empty otherwise
    ]
)
"""audit/service_requests: one row per request to ``radlake serve`` (who, space, what, outcome)."""
# --- HL7 v2 (ingestion.hl7) -------------------------------------------------------------------------------------

HL7_MESSAGES = pa.schema(
    [
        pa.field("sending_facility", pa.string(), nullable=False),
        pa.field("control_id", pa.string(), nullable=False),
        ("sending_application", pa.string()),
        ("message_type", pa.string()),  # MSH-9 as CODE^EVENT (ORM^O01)
        ("message_datetime", pa.string()),  # MSH-7 as sent
        ("version", pa.string()),
        ("encoding", pa.string()),  # the Python codec the text was decoded with
        ("encoding_inferred", pa.bool_()),  # MSH-18 and the config did not fit the bytes: detected
        ("message_text", pa.string()),  # the decoded message, segments separated by \r
        ("message_sha256", pa.string()),  # of the bytes as received
        ("message_bytes", pa.int64()),
        ("received_at", UTC_TS),
        ("receive_date", pa.date32()),
    ]
)
"""bronze/hl7_messages: one row per accepted message (a resent control id is not a new row)."""

ORDER_COLUMNS = (
    "institution",
    "accession_number",
    "order_id",
    "patient_id",
    "mrn",
    "priority",
    "ordering_department",
    "raw_exam_name",
    "modality",
    "status",
    "ordered_at",
    "exam_started_at",
    "exam_ended_at",
    "device_station",
    "report_status",
    "report_written_at",
    "report_signed_at",
)
"""The columns of silver/exams an order carries before its study, codes and empi_id are joined (from the RIS
tables or from HL7)."""

HL7_ORDERS = pa.schema(
    [
        *(EXAMS.field(name) for name in ORDER_COLUMNS),
        EXAMS.field("study_instance_uid"),  # an OMI's IPC-3, before the images arrive
        ("report_radiologist", pa.string()),  # an ORU's OBR-32 (principal result interpreter)
        ("report_impression", pa.string()),  # an ORU's OBX-5 text, lines joined
        ("messages", pa.int64()),
        ("last_control_id", pa.string()),
        ("updated_at", UTC_TS),
    ]
)
"""silver/hl7_orders: one order as its HL7 orders and reports left it (fed into silver/exams)."""

HL7_PATIENT_LINKS = pa.schema(
    [
        pa.field("record_id_a", pa.string(), nullable=False),
        pa.field("record_id_b", pa.string(), nullable=False),
        ("institution", pa.string()),
        ("surviving_record_id", pa.string()),
        ("sending_facility", pa.string()),
        ("control_id", pa.string()),
        ("linked_at", UTC_TS),
    ]
)
"""silver/hl7_patient_links: one ADT^A40 merge of two patient records (``record_id_a < record_id_b``),
taken by the EMPI as a steward-grade link."""

HL7_PATIENTS = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),  # <institution>:<mrn>, as the EMPI names records
        ("institution", pa.string()),
        ("mrn", pa.string()),  # PID-3, first repetition
        ("name", pa.string()),  # PID-5
        ("sex", pa.string()),  # PID-8 (HL7 table 0001: M, F, O, U)
        ("birth_date", pa.date32()),  # PID-7
        ("id_number", pa.string()),  # the PID-3 repetition of identifier type NNCHN/NI, else PID-19
        ("phone", pa.string()),  # PID-13
        ("address", pa.string()),  # PID-11
        ("last_event", pa.string()),  # ADT^A01 / ADT^A04 / ADT^A08
        ("last_control_id", pa.string()),
        ("updated_at", UTC_TS),
    ]
)
"""silver/hl7_patients: one patient record as the RIS's ADT^A01/A04/A08 registrations and updates left it (the
EMPI takes it beside the CDC sources' patient tables)."""

# --- PACS pull (ingestion.pacs) ----------------------------------------------------------------------------------

PULL_STATES = ("found", "requested", "complete", "failed")
"""bronze/pacs_pull_state.state."""

PACS_PULL_STATE = pa.schema(
    [
        pa.field("peer", pa.string(), nullable=False),
        pa.field("study_instance_uid", pa.string(), nullable=False),
        ("accession_number", pa.string()),
        ("study_date", pa.date32()),
        ("state", pa.string()),
        ("instances_expected", pa.int64()),
        ("instances_received", pa.int64()),
        ("peer_status", pa.string()),  # the PACS's last status of a failed retrieve (0xA702 ...)
        ("attempts", pa.int64()),
        ("found_at", UTC_TS),
        ("updated_at", UTC_TS),
    ]
)
"""bronze/pacs_pull_state: one study of one PACS and how far its pull got."""

SQL_QUERY_STATUSES = ("ok", "error", "refused", "timeout", "too_many_rows")
"""audit/sql_queries.status."""

SQL_QUERIES = pa.schema(
    [
        ("query_id", pa.string()),
        ("started_at", UTC_TS),
        ("query_date", pa.date32()),  # the UTC day of started_at: the partition
        ("account", pa.string()),
        ("space", pa.string()),
        ("database", pa.string()),
        ("client", pa.string()),  # the client's address (host only)
        ("statement", pa.string()),  # truncated to 2000 characters
        ("row_count", pa.int64()),
        ("status", pa.string()),
        ("error", pa.string()),  # one line, truncated to 240 characters
        ("duration_ms", pa.float64()),
        ("build", pa.string()),  # the warehouse build the statement read
    ]
)
"""audit/sql_queries: one row per statement a client sent the SQL endpoint (radlake sql serve)."""


ROUTING_STATES = ("queued", "retry", "sent", "dead")
"""audit/routing_queue.state: waiting for its first try, waiting for another, delivered, given up on."""

ROUTING_QUEUE = pa.schema(
    [
        pa.field("sop_instance_uid", pa.string(), nullable=False),
        pa.field("destination", pa.string(), nullable=False),
        ("study_instance_uid", pa.string()),
        ("sop_class_uid", pa.string()),
        ("transfer_syntax_uid", pa.string()),
        ("rule", pa.string()),  # the rule that matched, or manual:<cohort> for radlake route send
        ("file_path", pa.string()),
        ("file_sha256", pa.string()),
        ("deidentify", pa.string()),  # the project the copy is de-identified for; empty: sent as stored
        ("state", pa.string()),
        ("attempts", pa.int32()),
        ("last_error", pa.string()),
        ("peer_status", pa.int32()),  # the peer's C-STORE status of the last try (null: no status came back)
        ("landed_at", UTC_TS),  # when the instance landed in bronze (latency is sent_at - landed_at)
        ("event_at", UTC_TS),
        ("sent_at", UTC_TS),
    ]
)
"""audit/routing_queue: one row per state change of one (instance, destination); the newest row is the state."""

ROUTING_RESULTS = pa.schema(
    [
        pa.field("result_id", pa.string(), nullable=False),  # SOP Instance UID of an SR/SC, else the JSON's hash
        ("kind", pa.string()),  # sr, sc, json
        ("study_instance_uid", pa.string()),  # the source study the result is about
        ("series_instance_uid", pa.string()),
        ("ai_name", pa.string()),  # the AI that produced it (Manufacturer / model, or the JSON's "ai")
        ("result_at", UTC_TS),  # when the result landed
        ("first_image_at", UTC_TS),  # when the study's first image landed (turnaround starts)
        ("source", pa.string()),  # dicom:<calling AE> or the JSON file's path
        ("payload_json", pa.string()),  # the JSON finding as received (empty for DICOM results)
    ]
)
"""bronze/routing_results: one row per result an AI sent back, linked to its source study by UIDs."""
