"""Pure transform: the studies a cohort rule selects (DataFrames in, DataFrame out; no session, no I/O)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from transforms.cohorts.rule import CohortFilters

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MEMBER_COLUMNS = ("study_instance_uid", "institution", "accession_number", "patient_key", "exam_date")


def _any_pattern(values: list[str], *, prefix: bool) -> str:
    body = "|".join(re.escape(v.upper()) for v in values)
    return f"(^|,)({body})" if prefix else f"(^|,)({body})(,|$)"


def select_members(
    exams: DataFrame,
    studies: DataFrame,
    series: DataFrame,
    reports: DataFrame | None,
    rule: CohortFilters,
) -> DataFrame:
    """One row per study that every filter of ``rule`` admits (:data:`MEMBER_COLUMNS`).

    Parameters
    ----------
    exams
        silver/exams (the exam's institution, modality, day, standard codes and the master-index id).
    studies, series
        silver/dicom_studies (sex, birth date for the age) and silver/dicom_series (body parts).
    reports
        ``institution, order_id, text`` of the RIS reports (findings and impression), or None without reports:
        then a rule with keywords selects nothing rather than everything.
    """
    df = exams.where(F.col("study_instance_uid").isNotNull() & (F.col("status") != "cancelled"))
    conditions: list[Column] = []
    if rule.modalities:
        conditions.append(F.upper("modality").isin([m.upper() for m in rule.modalities]))
    if rule.institutions:
        conditions.append(F.col("institution").isin(rule.institutions))
    if rule.date_from:
        conditions.append(F.col("exam_date") >= F.lit(rule.date_from))
    if rule.date_to:
        conditions.append(F.col("exam_date") <= F.lit(rule.date_to))
    if rule.exam_code_prefixes:
        codes = F.concat_ws(",", F.col("exam_codes"))
        conditions.append(codes.rlike(_any_pattern(rule.exam_code_prefixes, prefix=True)))
    for condition in conditions:
        df = df.where(condition)

    people = studies.select("study_instance_uid", "patient_sex", "patient_birth_date")
    df = df.join(people, "study_instance_uid", "left")
    if rule.sexes:
        df = df.where(F.upper("patient_sex").isin(list(rule.sexes)))
    if rule.age_min is not None or rule.age_max is not None:
        age = F.floor(F.months_between(F.col("exam_date"), F.col("patient_birth_date")) / 12)
        if rule.age_min is not None:
            df = df.where(age >= rule.age_min)
        if rule.age_max is not None:
            df = df.where(age <= rule.age_max)
    if rule.body_parts:
        parts = series.groupBy("study_instance_uid").agg(
            F.concat_ws(",", F.collect_set(F.upper("body_part_examined"))).alias("_parts")
        )
        df = df.join(parts, "study_instance_uid", "inner").where(
            F.col("_parts").rlike(_any_pattern(rule.body_parts, prefix=False))
        )
    if rule.report_keywords:
        if reports is None:
            return df.limit(0).select(*_members(df))
        hit = F.lit(False)
        for keyword in rule.report_keywords:
            hit = hit | F.lower(F.col("text")).contains(keyword.lower())
        matched = reports.where(hit).select("institution", "order_id").distinct()
        df = df.join(matched, ["institution", "order_id"], "left_semi")
    return df.select(*_members(df)).dropDuplicates(["study_instance_uid"])


def _members(df: DataFrame) -> list[Column]:
    patient_key = F.coalesce(F.col("empi_id"), F.concat_ws(":", F.col("institution"), F.col("patient_id")))
    return [
        F.col("study_instance_uid"),
        F.col("institution"),
        F.col("accession_number"),
        patient_key.alias("patient_key"),
        F.col("exam_date"),
    ]
