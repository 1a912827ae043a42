"""Pure transforms: bronze/dicom_instances → the DICOMweb index (silver/dicomweb_studies, _series, _instances).

The index holds what a QIDO-RS answer needs, precomputed once per pipeline run: every required matching key
of PS3.18 Table 10.6.1-5, the study's modalities, SOP classes and counts, and each study's and series'
attributes as DICOM JSON (for ``includefield=all``), taken from its first instance (smallest SOP Instance
UID, so independent of row order). The data services never aggregate instances per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
from pyspark.sql import functions as F

from transforms.dicom.frames import study_bucket

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

STUDY_LEVEL_TAGS = frozenset(
    {
        0x00080005, 0x00080020, 0x00080030, 0x00080050, 0x00080051, 0x00080090, 0x00080201, 0x00081030,
        0x00081032, 0x00081060, 0x00081080, 0x0020000D, 0x00200010, 0x00321032, 0x00321060,
    }
)  # fmt: skip
"""Study-level attributes besides the Patient group (0010,xxxx): PS3.3 General Study and Patient Study."""

SERIES_LEVEL_TAGS = frozenset(
    {
        0x00080021, 0x00080031, 0x00080060, 0x00080070, 0x00080080, 0x00081010, 0x0008103E, 0x00081090,
        0x00180015, 0x00181030, 0x00185100, 0x0020000E, 0x00200011, 0x00200052, 0x00200060, 0x00400244,
        0x00400245, 0x00400254, 0x00400275,
    }
)  # fmt: skip
"""Series-level attributes: PS3.3 General Series, General Equipment, Frame of Reference and the request."""

BUCKETS = 256
"""silver/dicomweb_instances is partitioned by this many buckets of the Study Instance UID."""

_LEVEL_FIELDS = (
    ("series_instance_uid", pa.string()),
    ("study_json", pa.string()),
    ("series_json", pa.string()),
    ("patient_birth_date_raw", pa.string()),
    ("study_id", pa.string()),
    ("referring_physician_name", pa.string()),
    ("series_date", pa.string()),
    ("series_time", pa.string()),
    ("pps_start_date", pa.string()),
    ("pps_start_time", pa.string()),
    ("scheduled_step_ids", pa.list_(pa.string())),
    ("requested_procedure_ids", pa.list_(pa.string())),
)
LEVEL_SCHEMA = pa.schema(_LEVEL_FIELDS)
"""What :func:`split_levels` makes of each series' first instance."""


def _level(tag: int) -> str:
    if tag >> 16 == 0x0010 or tag in STUDY_LEVEL_TAGS:
        return "study"
    return "series" if tag in SERIES_LEVEL_TAGS else "instance"


def _first_text(element: dict[str, Any] | None) -> str | None:
    """The first value of an element as text (a PN as its groups joined by ``=``, as written)."""
    if not element or not element.get("Value"):
        return None
    value = element["Value"][0]
    if isinstance(value, dict):
        groups = [value.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")]
        return "=".join(groups).rstrip("=") or None
    return None if value is None else str(value)


def _item_values(element: dict[str, Any] | None, tag: str) -> list[str]:
    """``tag``'s values across the items of a sequence element, in item order, without empties."""
    out: list[str] = []
    for item in (element or {}).get("Value") or []:
        text = _first_text(item.get(tag)) if isinstance(item, dict) else None
        if text:
            out.append(text)
    return out


def split_levels(header_json: str) -> dict[str, Any]:
    """The study- and series-level attributes of one landed header, and the keys QIDO matches on.

    Parameters
    ----------
    header_json
        bronze/dicom_instances.header_json (DICOM JSON, keys ``GGGGEEEE``).

    Returns
    -------
    dict
        The fields of :data:`LEVEL_SCHEMA` except ``series_instance_uid``.
    """
    header = orjson.loads(header_json) if header_json else {}
    study: dict[str, Any] = {}
    series: dict[str, Any] = {}
    for key, element in header.items():
        level = _level(int(key, 16))
        if level == "study":
            study[key] = element
        elif level == "series":
            series[key] = element
    request = header.get("00400275")
    return {
        "study_json": orjson.dumps(study, option=orjson.OPT_SORT_KEYS).decode(),
        "series_json": orjson.dumps(series, option=orjson.OPT_SORT_KEYS).decode(),
        "patient_birth_date_raw": _first_text(header.get("00100030")),
        "study_id": _first_text(header.get("00200010")),
        "referring_physician_name": _first_text(header.get("00080090")),
        "series_date": _first_text(header.get("00080021")),
        "series_time": _first_text(header.get("00080031")),
        "pps_start_date": _first_text(header.get("00400244")),
        "pps_start_time": _first_text(header.get("00400245")),
        "scheduled_step_ids": _item_values(request, "00400009"),
        "requested_procedure_ids": _item_values(request, "00401001"),
    }


def split_levels_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """:func:`split_levels` over Arrow batches of (series_instance_uid, header_json), for ``mapInArrow``."""
    for batch in batches:
        uids = batch.column("series_instance_uid").to_pylist()
        rows = [split_levels(h) for h in batch.column("header_json").to_pylist()]
        columns: dict[str, list[Any]] = {"series_instance_uid": uids}
        for name, _ in _LEVEL_FIELDS[1:]:
            columns[name] = [r[name] for r in rows]
        yield pa.RecordBatch.from_pydict(columns, schema=LEVEL_SCHEMA)


def _time6(column: str) -> Any:
    """A TM value as HHMMSS (colons of old ACR-NEMA times dropped, short times padded, fraction cut)."""
    bare = F.split(F.regexp_replace(F.trim(F.col(column)), ":", ""), r"\.").getItem(0)
    return F.when(F.length(bare) > 0, F.rpad(bare, 6, "0"))


def _levels(instances: DataFrame) -> DataFrame:
    """One row per series: the levels of its first instance (:data:`LEVEL_SCHEMA`) and that instance's UID."""
    firsts = (
        instances.filter(F.col("series_instance_uid").isNotNull())
        .groupBy("series_instance_uid")
        .agg(F.min("sop_instance_uid").alias("first_sop"))
    )
    heads = firsts.join(
        instances.select(F.col("sop_instance_uid").alias("first_sop"), "header_json"), "first_sop"
    ).select("series_instance_uid", "header_json", "first_sop")
    ddl = ", ".join(f"{f.name} {'array<string>' if pa.types.is_list(f.type) else 'string'}" for f in LEVEL_SCHEMA)
    levels = heads.select("series_instance_uid", "header_json").mapInArrow(split_levels_batches, ddl)
    return levels.join(heads.select("series_instance_uid", "first_sop"), "series_instance_uid")


def dicomweb_series(instances: DataFrame) -> DataFrame:
    """silver/dicomweb_series from bronze/dicom_instances (with ``header_json``)."""
    counts = (
        instances.filter(F.col("series_instance_uid").isNotNull())
        .groupBy("series_instance_uid")
        .agg(
            F.min("study_instance_uid").alias("study_instance_uid"),
            F.min("modality").alias("modality"),
            F.min("series_number").alias("series_number"),
            F.min("series_description").alias("series_description"),
            F.min("body_part_examined").alias("body_part_examined"),
            F.min("institution_name").alias("institution_name"),
            F.countDistinct("sop_instance_uid").alias("instance_count"),
            F.max("ingested_at").alias("last_ingested_at"),
        )
    )
    rows = counts.join(_levels(instances), "series_instance_uid").withColumn("series_time", _time6("series_time"))
    return rows


def dicomweb_studies(instances: DataFrame) -> DataFrame:
    """silver/dicomweb_studies from bronze/dicom_instances (with ``header_json``)."""
    known = instances.filter(F.col("study_instance_uid").isNotNull())
    rolled = known.groupBy("study_instance_uid").agg(
        F.min("patient_id").alias("patient_id"),
        F.min("patient_name").alias("patient_name"),
        F.min("patient_sex").alias("patient_sex"),
        F.min("accession_number").alias("accession_number"),
        F.min("study_date").alias("study_date"),
        F.min("study_time").alias("study_time"),
        F.min("study_description").alias("study_description"),
        F.min("institution_name").alias("institution_name"),
        F.array_sort(F.collect_set("modality")).alias("modalities"),
        F.array_sort(F.collect_set("sop_class_uid")).alias("sop_classes"),
        F.countDistinct("series_instance_uid").alias("series_count"),
        F.countDistinct("sop_instance_uid").alias("instance_count"),
        F.max("ingested_at").alias("last_ingested_at"),
    )
    series_study = known.select("series_instance_uid", "study_instance_uid").distinct()
    firsts = (
        _levels(instances)
        .join(series_study, "series_instance_uid")
        .groupBy("study_instance_uid")
        .agg(
            F.min(
                F.struct("first_sop", "study_json", "study_id", "referring_physician_name", "patient_birth_date_raw")
            ).alias("f")
        )
        .select(
            "study_instance_uid",
            F.col("f.study_json").alias("study_json"),
            F.col("f.study_id").alias("study_id"),
            F.col("f.referring_physician_name").alias("referring_physician_name"),
            F.col("f.patient_birth_date_raw").alias("patient_birth_date"),
        )
    )
    rows = rolled.join(firsts, "study_instance_uid", "left").withColumn("study_time", _time6("study_time"))
    return rows


def dicomweb_instances(instances: DataFrame) -> DataFrame:
    """silver/dicomweb_instances from bronze/dicom_instances; a re-sent instance keeps its latest landing."""

    def header_int(tag: str) -> Any:
        return F.get_json_object("header_json", f"$.{tag}.Value[0]").cast("int")

    rows = (
        instances.filter(F.col("study_instance_uid").isNotNull() & F.col("series_instance_uid").isNotNull())
        .withColumn("rows", header_int("00280010"))
        .withColumn("columns", header_int("00280011"))
        .withColumn("bits_allocated", header_int("00280100"))
        .withColumn("number_of_frames", header_int("00280008"))
        .withColumn("study_bucket", study_bucket())
    )
    return rows
