"""Bronze sensors: DICOM files in the watch folders not landed yet, and CDC streaming with a lag alert."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.alerts import send_alert
from orchestration.bronze.arrivals import unseen_files
from radlake.config import Settings

RETRY_SECONDS = 3600.0
"""A file requested this long ago and still not landed (its run failed) is requested again."""


def dicom_arrival_sensor(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Request today's partition when the watch folders hold settled files that bronze has not landed.

    Arrival is found by inventory, not by modification time (see :mod:`orchestration.bronze.arrivals`): a
    file copied in with a 30-day-old mtime is requested at the next tick. The cursor keeps short keys of the
    files already requested, so one arrival asks for one run (again after :data:`RETRY_SECONDS` if its run
    did not land it).
    """

    @dg.sensor(
        name="dicom_watch_folders",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Files in the DICOM watch folders that bronze has not landed → ingest them in today's partition.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        from ingestion.dicom.landing import landed_among

        now = time.time()
        state = _dicom_cursor(context.cursor)
        settle = settings.dicom.settle_seconds
        # A file still being copied is left for the tick after it settles.
        settled_before = now - settle if settle > 0 else math.inf
        found = unseen_files(settings.dicom.watch, lambda paths: landed_among(settings, paths), settled_before)
        # Forget requests that landed (no longer unseen) or that are old enough to ask again.
        unseen = set(found.keys)
        requested = {k: t for k, t in state["requested"].items() if k in unseen and now - t < RETRY_SECONDS}
        new = sorted(unseen - requested.keys())
        cursor = json.dumps({"requested": requested | dict.fromkeys(new, round(now, 3))})
        if not new:
            waiting = f"; {found.waiting} still settling" if found.waiting else ""
            pending = f"; {len(requested)} requested, not landed yet" if requested else ""
            return dg.SensorResult(
                skip_reason=f"no new files in {len(settings.dicom.watch)} watch folders{pending}{waiting}",
                cursor=cursor,
            )
        today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
        context.log.info(f"{len(new)} files not landed yet: requesting partition {today}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"dicom-{today}-{int(now * 1000)}", partition_key=today)],
            cursor=cursor,
        )

    return _sensor


def _dicom_cursor(cursor: str | None) -> dict:
    # Cursors written before arrival by inventory held a float (the newest mtime seen): start afresh.
    try:
        state = json.loads(cursor) if cursor else {}
    except ValueError:
        state = {}
    if not isinstance(state, dict) or not isinstance(state.get("requested"), dict):
        state = {"requested": {}}
    return state


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
