"""The one day-partitioning of radlake: local days in the hospitals' time zone, made once per settings."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import dagster as dg

from radlake.config import Settings

DAY_TO_SAME_DAY = dg.TimeWindowPartitionMapping(start_offset=0, end_offset=0)
"""Day D of a child depends on day D of its parent: the one mapping between radlake's day partitions.

Written out (it is also Dagster's default between equal time partitions) so the lineage says it, and because
Dagster's backfills run a parent and a child with this mapping in step, day range by day range.
"""


@cache
def _daily(start: date, timezone: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists, so files arriving today can be ingested today.
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone=timezone, end_offset=1)


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily partitions from ``schedule.partitions_start`` in ``settings.timezone``."""
    return _daily(settings.schedule.partitions_start, settings.timezone)


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last local day a (possibly ranged, single-run backfill) execution covers."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the day partitions ``first``..``last`` (needs single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }
