"""Bronze sensors: new DICOM files in the watch folders, and CDC streaming with a lag alert."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime

import dagster as dg

from orchestration.alerts import send_alert
from orchestration.bronze.arrivals import new_arrivals
from radlake.config import Settings


def dicom_arrival_sensor(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Request the arrival-day partitions of files that settled in the watch folders since the last tick."""

    @dg.sensor(
        name="dicom_watch_folders",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="New files in the DICOM watch folders → ingest the days they arrived on.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        after = float(context.cursor or 0)
        settle = settings.dicom.settle_seconds
        # The cursor never passes a file still being copied: the tick after it settles takes it.
        settled_before = time.time() - settle if settle > 0 else math.inf
        found = new_arrivals(settings.dicom.watch, after, settled_before, settings.timezone)
        if not found.days:
            waiting = f"; {found.waiting} still settling" if found.waiting else ""
            return dg.SkipReason(f"no new files in {len(settings.dicom.watch)} watch folders{waiting}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=f"dicom-{found.newest:.6f}-{day}", partition_key=day.isoformat())
                for day in found.days
            ],
            cursor=str(found.newest),
        )

    return _sensor


def cdc_stream_sensor(settings: Settings, source: str, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Streaming through Dagster: sync the source whenever it has pending changes; alert on lag.

    For sub-second latency run ``radlake cdc stream SOURCE`` instead; this sensor suits minute-level freshness
    and keeps every batch visible in the UI. The lag shows in each tick's log and in the sync's metadata.
    """

    @dg.sensor(
        name=f"cdc_{source}_stream",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Pending changes in {source} → one CDC batch; alert when the lag passes the threshold.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        from ingestion.cdc.sync import source_status

        state = json.loads(context.cursor) if context.cursor else {"runs": 0, "alerting": False}
        status = next((s for s in source_status(settings) if getattr(s, "source", None) == source), None)
        if status is None:
            return dg.SkipReason(f"no status for source {source}")
        lag_seconds = status.lag_seconds
        context.log.info(f"{source}: lag {lag_seconds} s, {status.lag_bytes} bytes pending, problem {status.problem}")
        # One alert when the source goes wrong, not one every tick; another after it has recovered.
        trouble = status.problem or (
            f"CDC source {source} is {lag_seconds:.0f} s behind"
            if lag_seconds is not None and lag_seconds > settings.schedule.cdc_lag_alert_seconds
            else None
        )
        if trouble and not state["alerting"]:
            send_alert(
                settings.alerts,
                {
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "kind": "cdc_problem" if status.problem else "cdc_lag",
                    "source": source,
                    "lag_seconds": lag_seconds,
                    "summary": trouble,
                },
                context.log,
            )
        state["alerting"] = bool(trouble)
        # A logical source says how much WAL waits; a query source cannot know without querying, so its
        # sync (which compares watermarks and is cheap when nothing changed) runs at every tick.
        pending = status.lag_bytes if settings.sources[source].mode == "logical" else True
        if not pending:
            return dg.SensorResult(skip_reason=f"{source}: no pending changes", cursor=json.dumps(state))
        run_key = f"cdc-{source}-{state['runs']}"
        state["runs"] += 1
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key)], cursor=json.dumps(state))

    return _sensor
