"""``radlake cohort build NAME``: a cohort rule's studies into silver/cohort_members, with what joined and left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import functions as F

from radlake import catalog
from radlake.config import Settings
from radlake.errors import LakeError
from radlake.lake import Lake
from transforms.cohorts.rule import CohortRule
from transforms.cohorts.select import select_members

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPEC = catalog.table("silver", "cohort_members")


@dataclass(frozen=True)
class CohortBuild:
    """One build: its number, how many studies it holds, which joined and which left since the last build."""

    cohort: str
    build: int
    rule_hash: str
    members: int
    joined: tuple[str, ...]
    left: tuple[str, ...]


def _reports(spark: SparkSession, settings: Settings) -> DataFrame | None:
    parts = []
    for name, source in settings.sources.items():
        reports = Lake(settings).cdc_state(name, "reports")
        if not reports.exists():
            continue
        df = reports.read_spark(spark)
        if not {"order_id", "findings", "impression"} <= set(df.columns):
            continue
        parts.append(
            df.select(
                F.lit(source.institution or name).alias("institution"),
                F.col("order_id").cast("string").alias("order_id"),
                F.concat_ws(" ", F.col("findings"), F.col("impression")).alias("text"),
            )
        )
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def current_members(settings: Settings, cohort: str) -> pa.Table | None:
    """The cohort's rows of its newest build, or None when it was never built."""
    table = Lake(settings).table(SPEC).read_arrow()
    if table is None:
        return None
    rows = table.filter(pc.equal(table["cohort"], cohort))
    return rows if rows.num_rows else None


def _same_build(previous: pa.Table, members: pa.Table, rule_hash: str) -> bool:
    """True when ``members`` are the previous build's rows (every column but the build's number and time)
    under the same rule."""
    if set(previous["rule_hash"].to_pylist()) != {rule_hash} or previous.num_rows != members.num_rows:
        return False
    order = [("study_instance_uid", "ascending")]
    columns = members.column_names
    return previous.select(columns).sort_by(order).to_pylist() == members.sort_by(order).to_pylist()


def build_cohort(spark: SparkSession, settings: Settings, rule: CohortRule) -> CohortBuild:
    """Select the rule's studies and replace the cohort's rows with them (one commit; none when the rows and
    the rule are those of the newest build, which then stands).

    Raises
    ------
    LakeError
        silver/exams or the DICOM roll-ups are not built yet.
    """
    lake = Lake(settings)
    needed = lake.tables("silver/exams", "silver/dicom_studies", "silver/dicom_series")
    missing = [key for key, table in needed.items() if not table.exists()]
    if missing:
        raise LakeError(f"{missing[0]} is not built yet: run the pipeline (radlake demo or Dagster) first")
    members = select_members(
        needed["silver/exams"].read_spark(spark),
        needed["silver/dicom_studies"].read_spark(spark),
        needed["silver/dicom_series"].read_spark(spark),
        _reports(spark, settings),
        rule.filters,
    ).toArrow()
    previous = current_members(settings, rule.name)
    before = set(previous["study_instance_uid"].to_pylist()) if previous is not None else set()
    if previous is not None and _same_build(previous, members, rule.rule_hash):
        # Re-running over the same lake changes nothing: the newest build stands, under its own number.
        return CohortBuild(
            cohort=rule.name,
            build=int(pc.max(previous["build"]).as_py()),
            rule_hash=rule.rule_hash,
            members=len(before),
            joined=(),
            left=(),
        )
    build = int(pc.max(previous["build"]).as_py()) + 1 if previous is not None else 1
    now = datetime.now(UTC)
    n = members.num_rows
    rows = (
        members.append_column("cohort", pa.array([rule.name] * n, pa.string()))
        .append_column("rule_hash", pa.array([rule.rule_hash] * n, pa.string()))
        .append_column("build", pa.array([build] * n, pa.int64()))
        .append_column("built_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))
    )
    quoted = rule.name.replace("'", "''")  # names are [a-z0-9_-]; quoting stays anyway
    lake.table(SPEC).replace(rows, where=f"cohort = '{quoted}'")
    after = set(members["study_instance_uid"].to_pylist())
    return CohortBuild(
        cohort=rule.name,
        build=build,
        rule_hash=rule.rule_hash,
        members=len(after),
        joined=tuple(sorted(after - before)),
        left=tuple(sorted(before - after)),
    )
