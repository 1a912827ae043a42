"""Pure transform: the per-institution RIS tables and the DICOM studies → one row per ordered exam."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from radlake import catalog
from transforms.exam_names import apply_exam_codes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EXAMS_COLUMNS = catalog.EXAMS_COLUMNS
"""Columns of silver/exams, in order (the catalog's)."""


def _latest(df: DataFrame, keys: list[str], order: str) -> DataFrame:
    """One row per ``keys``: the one with the greatest ``order`` (a re-done exam, an amended report)."""
    w = Window.partitionBy(*keys).orderBy(F.col(order).desc_nulls_last())
    return df.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


_ORDER_COLUMNS = catalog.schemas.ORDER_COLUMNS
"""What an order is before the DICOM study, codes and empi_id are joined: the RIS tables' join, or an HL7 row."""


def ris_orders(
    orders: DataFrame,
    records: DataFrame,
    reports: DataFrame,
    departments: DataFrame,
    devices: DataFrame,
    patients: DataFrame,
) -> DataFrame:
    """One row per RIS order (:data:`_ORDER_COLUMNS`): the order with its latest record and report."""
    rec = _latest(records, ["institution", "order_id"], "started_at").select(
        "institution",
        "order_id",
        F.col("started_at").alias("exam_started_at"),
        F.col("ended_at").alias("exam_ended_at"),
        "device_id",
    )
    rep = _latest(reports, ["institution", "order_id"], "updated_at").select(
        "institution",
        "order_id",
        F.col("status").alias("report_status"),
        F.col("written_at").alias("report_written_at"),
        F.col("signed_at").alias("report_signed_at"),
    )
    dept = departments.select(
        "institution",
        F.col("department_id").alias("ordering_department_id"),
        F.col("name").alias("ordering_department"),
    )
    dev = devices.select(
        "institution",
        "device_id",
        F.col("station_name").alias("device_station"),
        F.col("modality").alias("device_modality"),
    )
    pat = patients.select("institution", "patient_id", "mrn")
    joined = (
        orders.alias("o")
        .join(rec, ["institution", "order_id"], "left")
        .join(rep, ["institution", "order_id"], "left")
        .join(dept, ["institution", "ordering_department_id"], "left")
        .join(dev, ["institution", "device_id"], "left")
        .join(pat, ["institution", "patient_id"], "left")
        # The device that performed the exam is the most reliable modality; the order's is a request.
        .withColumn("modality", F.coalesce("device_modality", "modality"))
    )
    return joined.select(
        *[F.col(c).cast("string") if c in ("order_id", "patient_id") else F.col(c) for c in _ORDER_COLUMNS]
    )


def merge_hl7_orders(ris: DataFrame | None, hl7_orders: DataFrame | None) -> DataFrame:
    """One row per (institution, accession_number) from the RIS tables and from HL7, whichever way it came.

    Where both hold an order, each column is the RIS's value, else HL7's (a report that came only by HL7 still
    fills the report columns of a captured order).
    """
    if hl7_orders is None:
        assert ris is not None
        return ris
    hl7 = hl7_orders.select(
        *[F.col(c).alias(f"_h_{c}") if c not in ("institution", "accession_number") else c for c in _ORDER_COLUMNS]
    )
    if ris is None:
        return hl7.select(
            *[F.col(c if c in ("institution", "accession_number") else f"_h_{c}").alias(c) for c in _ORDER_COLUMNS]
        )
    both = ris.join(hl7, ["institution", "accession_number"], "full_outer")
    return both.select(
        "institution",
        "accession_number",
        *[F.coalesce(F.col(c), F.col(f"_h_{c}")).alias(c) for c in _ORDER_COLUMNS[2:]],
    )


def build_exams(
    orders: DataFrame | None,
    records: DataFrame | None,
    reports: DataFrame | None,
    departments: DataFrame | None,
    devices: DataFrame | None,
    patients: DataFrame | None,
    studies: DataFrame | None = None,
    name_map: DataFrame | None = None,
    patient_master: DataFrame | None = None,
    *,
    timezone: str,
    hl7_orders: DataFrame | None = None,
) -> DataFrame:
    """Join one ordered exam with everything known about it.

    Parameters
    ----------
    orders, records, reports, departments, devices, patients
        The RIS tables of all institutions (silver CDC state), each with an ``institution`` column added;
        all None when no RIS is captured (an HL7-only lake).
    studies
        silver/dicom_studies (``accession_number``, ``study_instance_uid``, ``modalities``); None before any
        DICOM was ingested.
    name_map
        silver/exam_name_map (``institution``, ``raw_name``, ``codes``, ``status``); None before
        standardization ran.
    patient_master
        silver/patient_master (``record_id`` = ``<institution>:<mrn>``, ``empi_id``); None before EMPI ran.
    timezone
        The hospitals' zone: ``exam_date`` is the local day of the exam start (of the order if not performed).
    hl7_orders
        silver/hl7_orders: orders and reports that came by HL7, merged with the RIS's by accession number
        (:func:`merge_hl7_orders`); None when no HL7 feed exists.

    Returns
    -------
    DataFrame
        :data:`EXAMS_COLUMNS`; one row per (institution, accession_number).
    """
    ris = None
    if orders is not None:
        assert records is not None and reports is not None and departments is not None
        assert devices is not None and patients is not None
        ris = ris_orders(orders, records, reports, departments, devices, patients)
    exams = merge_hl7_orders(ris, hl7_orders)
    hl7_study = (
        hl7_orders.select("institution", "accession_number", F.col("study_instance_uid").alias("_h_study"))
        if hl7_orders is not None
        else None
    )

    if studies is not None:
        # Accession numbers are unique across the group (they carry the institution), so the study joins on it.
        station = F.col("station_name") if "station_name" in studies.columns else F.lit(None).cast("string")
        st = _latest(
            studies.filter(F.col("accession_number").isNotNull()), ["accession_number"], "instance_count"
        ).select("accession_number", "study_instance_uid", station.alias("_study_station"))
        # An order that came by HL7 names no device; the images name the station that made them.
        exams = (
            exams.join(st, ["accession_number"], "left")
            .withColumn("device_station", F.coalesce("device_station", "_study_station"))
            .drop("_study_station")
        )
    else:
        exams = exams.withColumn("study_instance_uid", F.lit(None).cast("string"))
    if hl7_study is not None:
        # An OMI names its study (IPC-3) before the images arrive: the images, once landed, win.
        exams = exams.join(hl7_study, ["institution", "accession_number"], "left").withColumn(
            "study_instance_uid", F.coalesce("study_instance_uid", "_h_study")
        )

    # The one exam-code join (shared with anything else that puts codes on exams); the select below keeps
    # the codes and the status.
    exams = apply_exam_codes(exams, name_map)

    if patient_master is not None:
        pm = patient_master.select(F.col("record_id").alias("_record_id"), "empi_id")
        exams = exams.withColumn("_record_id", F.concat_ws(":", "institution", "mrn")).join(pm, ["_record_id"], "left")
    else:
        exams = exams.withColumn("empi_id", F.lit(None).cast("string"))

    local_start = F.from_utc_timestamp(F.coalesce("exam_started_at", "ordered_at"), timezone)
    derived = {
        "exam_date": F.to_date(local_start).alias("exam_date"),
        "has_images": F.col("study_instance_uid").isNotNull().alias("has_images"),
    }
    return exams.select(*[derived.get(name, F.col(name)) for name in EXAMS_COLUMNS])
