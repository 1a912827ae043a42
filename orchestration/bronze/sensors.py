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
        from ingestion.dicom import landed_among

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


class SourceUnreachable(Exception):
    """Raised by a CDC sensor tick: Dagster shows the tick as failed, with this one line, in the sensor's page."""


def cdc_stream_sensor(settings: Settings, source: str, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Streaming through Dagster: sync the source whenever it has pending changes; alert on lag.

    For sub-second latency run ``radlake cdc stream SOURCE`` instead; this sensor suits minute-level freshness
    and keeps every batch visible in the UI. The lag shows in each tick's log and in the sync's metadata.
    A source the sensor cannot reach fails the tick at once (the error names the source, host and port), and
    is alerted once until it is reachable again; no run is started for it.
    """

    @dg.sensor(
        name=f"cdc_{source}_stream",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Pending changes in {source} → one CDC batch; alert when the lag passes the threshold.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        from ingestion.cdc import source_status

        state = json.loads(context.cursor) if context.cursor else {"runs": 0}
        status = next((s for s in source_status(settings) if getattr(s, "source", None) == source), None)
        if status is None:
            return dg.SkipReason(f"no status for source {source}")
        lag_seconds = status.lag_seconds
        context.log.info(f"{source}: lag {lag_seconds} s, {status.lag_bytes} bytes pending, problem {status.problem}")
        trouble = status.problem or (
            f"CDC source {source} is {lag_seconds:.0f} s behind"
            if lag_seconds is not None and lag_seconds > settings.schedule.cdc_lag_alert_seconds
            else None
        )
        _alert_once(settings, source, trouble, "cdc_problem" if status.problem else "cdc_lag", lag_seconds, context)
        if not status.reachable:
            # A failed tick, not a skip: the sensor turns red in the UI with the cause as its first line.
            raise SourceUnreachable(status.problem)
        # A logical source says whether a committed transaction waits (WAL of other tables is not a change); a
        # query source cannot know without querying, so its sync (cheap when nothing changed) runs every tick.
        pending = status.pending if settings.sources[source].mode == "logical" else True
        if not pending:
            why = (
                "no pending changes" if pending is False else status.problem or "slot busy (a sync or stream holds it)"
            )
            return dg.SensorResult(skip_reason=f"{source}: {why}", cursor=json.dumps(state))
        run_key = f"cdc-{source}-{state['runs']}"
        state["runs"] += 1
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key)], cursor=json.dumps(state))

    return _sensor


def _alert_once(
    settings: Settings,
    source: str,
    trouble: str | None,
    kind: str,
    lag_seconds: float | None,
    context: dg.SensorEvaluationContext,
) -> None:
    """One alert when a source goes wrong, not one every tick; another after it has recovered.

    Whether an alert is out is kept in a file beside the source's sync record, not in the sensor's cursor: a
    tick that fails (an unreachable source) keeps no cursor.
    """
    from ingestion.cdc import sync_record_path

    marker = sync_record_path(settings, source).with_suffix(".alerting")
    if not trouble:
        marker.unlink(missing_ok=True)
        return
    if marker.exists():
        return
    send_alert(
        settings.alerts,
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": kind,
            "source": source,
            "lag_seconds": lag_seconds,
            "summary": trouble,
        },
        context.log,
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(trouble + "\n", encoding="utf-8")
