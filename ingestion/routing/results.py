"""Results back: AI results (DICOM SR / secondary capture, or JSON files) linked to their source study.

A DICOM result arrives like any instance (the receiver lands it in bronze/dicom_instances); a JSON finding is
a file dropped in a results folder, ``{"study_instance_uid": "...", "ai": "...", ...}``. Both become rows of
``bronze/routing_results`` keyed by the result's SOP Instance UID (or the JSON file's SHA-256), with the time
the study's first image landed, so turnaround is ``result_at - first_image_at``. Re-running changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from radlake import catalog
from radlake.config import Settings
from radlake.lake import Lake

SPEC = catalog.table("bronze", "routing_results")
INSTANCES = catalog.table("bronze", "dicom_instances")
SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
SC_PREFIX = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class ResultsReport:
    """What one pass linked, and the JSON files it could not use (path, reason)."""

    linked: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _kind(sop_class: str) -> str | None:
    return "sr" if sop_class.startswith(SR_PREFIX) else "sc" if sop_class.startswith(SC_PREFIX) else None


def commit_results(settings: Settings, rows: list[dict]) -> int:
    """Upsert result rows by ``result_id`` (one commit); returns the rows written."""
    if not rows:
        return 0
    return Lake(settings).table(SPEC).upsert(rows)


def link_results(settings: Settings, results_folder: Path | None = None) -> ResultsReport:
    """Link every SR/SC in bronze whose study has images, and every JSON file in ``results_folder``."""
    report = ResultsReport()
    cols = ["sop_instance_uid", "sop_class_uid", "study_instance_uid", "series_instance_uid", "manufacturer",
            "manufacturer_model_name", "ingested_at", "file_path"]  # fmt: skip
    bronze = Lake(settings).table(INSTANCES).read_arrow(cols)
    if bronze is None:
        return report
    first_image: dict[str, datetime] = {}
    rows: list[dict] = []
    results = []
    for r in bronze.to_pylist():
        kind = _kind(str(r["sop_class_uid"] or ""))
        if kind is None:
            study = r["study_instance_uid"]
            if study and (study not in first_image or r["ingested_at"] < first_image[study]):
                first_image[study] = r["ingested_at"]
        else:
            results.append((kind, r))
    for kind, r in results:
        study = r["study_instance_uid"]
        if study in first_image:
            ai = " ".join(x for x in (r["manufacturer"], r["manufacturer_model_name"]) if x) or "unknown"
            rows.append(_row(r["sop_instance_uid"], kind, study, r["series_instance_uid"], ai, r["ingested_at"],
                             first_image[study], f"file:{r['file_path']}", ""))  # fmt: skip
    if results_folder is not None:
        now = datetime.now(UTC)
        for path in sorted(results_folder.glob("*.json")):
            raw = path.read_bytes()
            try:
                doc = json.loads(raw)
                study = str(doc["study_instance_uid"])
                ai = str(doc.get("ai") or "unknown")
            except (ValueError, KeyError, TypeError):
                report.skipped.append((str(path), "not a JSON object with study_instance_uid"))
                continue
            if study not in first_image:
                report.skipped.append((str(path), "no landed images of that study"))
                continue
            rid = "json:" + hashlib.sha256(raw).hexdigest()
            rows.append(_row(rid, "json", study, None, ai, now, first_image[study], str(path), raw.decode()))
    if rows:
        done = Lake(settings).table(SPEC).read_arrow(["result_id"])
        have = set(done["result_id"].to_pylist()) if done is not None else set()
        rows = [r for r in rows if r["result_id"] not in have]  # a result keeps its first landing time
    report.linked = commit_results(settings, rows)
    return report


def _row(
    rid: str, kind: str, study: str, series: str | None, ai: str, at: object, first: object, source: str, payload: str
) -> dict:
    return {
        "result_id": rid,
        "kind": kind,
        "study_instance_uid": study,
        "series_instance_uid": series,
        "ai_name": ai,
        "result_at": at,
        "first_image_at": first,
        "source": source,
        "payload_json": payload,
    }


def turnaround(settings: Settings) -> pa.Table | None:
    """Per result: study, AI, when, and turnaround in seconds (first image landed → result landed)."""
    table = Lake(settings).table(SPEC).read_arrow()
    if table is None:
        return None
    seconds = pc.divide(pc.cast(pc.subtract(table["result_at"], table["first_image_at"]), pa.int64()), 1_000_000)
    return table.select(["study_instance_uid", "ai_name", "kind", "result_at"]).append_column("turnaround_s", seconds)
