"""Bronze sensors: new DICOM files in the watch folders, and CDC streaming with a lag alert."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.alerts import send_alert
from orchestration.bronze.arrivals import newest_arrival
from radlake.config import Settings


def dicom_arrival_sensor(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Request today's DICOM partition whenever files newer than the last seen arrive in the watch folders."""

    @dg.sensor(
        name="dicom_watch_folders",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="New files in the DICOM watch folders → ingest today's arrivals.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        after = float(context.cursor or 0)
        newest, count = newest_arrival(settings.dicom.watch, after)
        if count == 0:
            return dg.SkipReason(f"no new files in {len(settings.dicom.watch)} watch folders")
        today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"dicom-{newest:.6f}", partition_key=today)],
            cursor=str(newest),
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

        status = next((s for s in source_status(settings) if getattr(s, "source", None) == source), None)
        if status is None:
            return dg.SkipReason(f"no status for source {source}")
        lag_seconds = getattr(status, "lag_seconds", None)
        pending = getattr(status, "lag_bytes", None)
        context.log.info(f"{source}: lag {lag_seconds} s, {pending} bytes pending")
        if lag_seconds is not None and lag_seconds > settings.schedule.cdc_lag_alert_seconds:
            send_alert(
                settings.alerts,
                {
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "kind": "cdc_lag",
                    "source": source,
                    "lag_seconds": lag_seconds,
                    "summary": f"CDC source {source} is {lag_seconds:.0f} s behind",
                },
                context.log,
            )
        if not pending:
            return dg.SkipReason(f"{source}: no pending changes")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"cdc-{source}-{context.cursor or 0}")],
            cursor=str(int(context.cursor or 0) + 1),
        )

    return _sensor
