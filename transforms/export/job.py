"""``radlake export NAME --to DIR|s3://...``: a cohort's instances, de-identified, as a BagIt bag.

Resumable and exact: each instance's outcome is recorded in ``silver/export_instances`` every batch; a
re-run after a crash skips what is recorded as exported or quarantined for that destination, redoes the rest
(outputs are deterministic: keyed UIDs and offsets, so a redone file is the same file), and the manifests
are written last from the table, so they list every exported file once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from radlake import catalog
from radlake.config import Settings
from radlake.errors import DataError
from radlake.lake import Lake
from radlake.pseudonym import load_key
from transforms.cohorts import CohortRule, current_members
from transforms.deid import DeidPolicy, project_key
from transforms.export.bag import write_bag
from transforms.export.instance import export_instance
from transforms.export.sink import Sink

log = logging.getLogger(__name__)

SPEC = catalog.table("silver", "export_instances")
INSTANCES = catalog.table("bronze", "dicom_instances")
BATCH = 500


@dataclass(frozen=True)
class ExportSummary:
    """Counts of one export run (all instances of the cohort, including those done by earlier runs)."""

    cohort: str
    destination: str
    exported: int
    quarantined: int
    failed: int
    skipped: int


def _instances(settings: Settings, studies: set[str]) -> pa.Table:
    columns = ["sop_instance_uid", "study_instance_uid", "series_instance_uid", "file_path", "file_sha256"]
    table = Lake(settings).table(INSTANCES).read_arrow(columns)
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    picked = table.filter(pc.is_in(table["study_instance_uid"], pa.array(sorted(studies), pa.string())))
    return picked.sort_by("sop_instance_uid")


class ExportRun:
    """One export of one cohort to one destination (see the module docstring)."""

    def __init__(self, settings: Settings, rule: CohortRule, destination: str) -> None:
        self.settings = settings
        self.rule = rule
        self.sink = Sink(destination)
        self.destination = self.sink.destination
        self.policy = DeidPolicy(
            key=project_key(load_key(settings), rule.name),
            options=frozenset(rule.export.options),
            safe_private=rule.export.safe_private_triples(),
        )
        self.table = Lake(settings).table(SPEC)

    def _recorded(self) -> pa.Table | None:
        table = self.table.read_arrow()
        if table is None:
            return None
        mask = pc.and_(pc.equal(table["cohort"], self.rule.name), pc.equal(table["destination"], self.destination))
        return table.filter(mask)

    def commit(self, rows: list[dict[str, object]]) -> None:
        """Record a batch of outcomes (upsert on cohort and source instance: a redone instance replaces its row)."""
        if rows:
            self.table.upsert(rows)

    def run(self, progress: Callable[[int, int], None] | None = None) -> ExportSummary:
        """Export every instance of the cohort's newest build; returns the counts.

        Raises
        ------
        DataError
            The cohort was never built (``radlake cohort build NAME`` first).
        """
        members = current_members(self.settings, self.rule.name)
        if members is None:
            raise DataError(f"cohort {self.rule.name!r} has no build: run `radlake cohort build {self.rule.name}`")
        keys = dict(zip(members["study_instance_uid"].to_pylist(), members["patient_key"].to_pylist(), strict=True))
        instances = _instances(self.settings, set(keys))
        recorded = self._recorded()
        done = set()
        if recorded is not None:
            finished = recorded.filter(pc.is_in(recorded["outcome"], pa.array(["exported", "quarantined"])))
            done = set(finished["sop_instance_uid"].to_pylist())
        rows: list[dict[str, object]] = []
        total = instances.num_rows
        skipped = 0
        for i, inst in enumerate(instances.to_pylist()):
            if inst["sop_instance_uid"] in done:
                skipped += 1
            else:
                rows.append(self._one(inst, keys[inst["study_instance_uid"]] or ""))
                if len(rows) >= BATCH:
                    self.commit(rows)
                    rows = []
            if progress:
                progress(i + 1, total)
        self.commit(rows)
        return self._finish(skipped)

    def _one(self, inst: dict[str, str], patient_key: str) -> dict[str, object]:
        row: dict[str, object] = {
            "cohort": self.rule.name,
            "sop_instance_uid": inst["sop_instance_uid"],
            "study_instance_uid": inst["study_instance_uid"],
            "series_instance_uid": inst["series_instance_uid"],
            "destination": self.destination,
            "rule_hash": self.rule.rule_hash,
            "exported_at": datetime.now(UTC),
        }
        try:
            data = Path(inst["file_path"]).read_bytes()
        except OSError as exc:
            return {**row, "outcome": "failed", "reason": f"stored file unreadable: {exc.strerror or exc}"}
        out = export_instance(
            data, inst["file_sha256"], self.policy, patient_key, allow_burned_in=self.rule.export.allow_burned_in
        )
        if out.outcome != "exported" or out.data is None:
            return {**row, "outcome": out.outcome, "reason": out.reason}
        relative = f"data/{out.study_uid}/{out.series_uid}/{out.sop_uid}.dcm"
        self.sink.write(relative, out.data)
        return {
            **row,
            "new_sop_instance_uid": out.sop_uid,
            "new_study_instance_uid": out.study_uid,
            "new_series_instance_uid": out.series_uid,
            "relative_path": relative,
            "sha256": hashlib.sha256(out.data).hexdigest(),
            "md5": hashlib.md5(out.data, usedforsecurity=False).hexdigest(),
            "file_size": len(out.data),
            "outcome": "exported",
            "reason": "",
        }

    def _finish(self, skipped: int) -> ExportSummary:
        recorded = self._recorded()
        rows = recorded.to_pylist() if recorded is not None else []
        counts = {k: sum(1 for r in rows if r["outcome"] == k) for k in ("exported", "quarantined", "failed")}
        payload = [
            (r["relative_path"], r["sha256"], r["md5"], r["file_size"]) for r in rows if r["outcome"] == "exported"
        ]
        write_bag(
            self.sink,
            payload,
            {
                "External-Identifier": self.rule.name,
                "Radlake-Rule-Hash": self.rule.rule_hash,
                "Radlake-Exported": str(counts["exported"]),
                "Radlake-Quarantined": str(counts["quarantined"]),
                "Radlake-Failed": str(counts["failed"]),
            },
        )
        return ExportSummary(self.rule.name, self.destination, skipped=skipped, **counts)
