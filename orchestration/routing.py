"""Routing in Dagster: the ``route_cohort`` job (the UI's launch form) and the queue's metrics on its asset."""

# No `from __future__ import annotations`: Dagster reads the `context` and config annotations at definition time.

import dagster as dg

from orchestration.lineage import column_schema, lake_asset_args
from orchestration.resources import RadlakeResource
from orchestration.schedules import LAKE_WRITER_TAGS
from radlake import catalog
from radlake.config import Settings

ROUTE_JOB = "route_cohort"


class RouteCohortConfig(dg.Config):
    """The launch form: which cohort, to which destination, de-identified or as stored."""

    cohort: str
    to: str  # a destination of routing.destinations, or dicom://AE@HOST:PORT
    deidentify: bool = False
    timeout_seconds: float = 3600.0


@dg.op(description="Queue the cohort's instances for the destination and send them; fails on any dead-letter.")
def route_cohort_op(context: dg.OpExecutionContext, config: RouteCohortConfig, radlake: RadlakeResource) -> dg.Output:
    from ingestion.routing import Router, cohort_instances, queue_metrics
    from transforms.export import routing_deidentifier

    settings = radlake.settings()
    rows = cohort_instances(settings, config.cohort)
    router = Router(settings, [config.to], deid=routing_deidentifier(settings))
    router.start()
    try:
        (dest,) = router.dests
        summary = router.queue_manual(rows, dest, f"manual:{config.cohort}", config.cohort if config.deidentify else "")
        done = router.wait_idle(config.timeout_seconds)
        counts = dict(router.workers[dest].counts)
    finally:
        router.close()
    metrics = queue_metrics(settings).get(dest, {})
    meta = {"queued": summary.queued, "sent": counts["sent"], "dead_letter": counts["dead"], **metrics}
    context.log.info(f"route {config.cohort} → {dest}: {meta}")
    if counts["dead"] or not done:
        raise dg.Failure(f"{counts['dead']} instances ended in dead-letter" if done else "timed out", metadata=meta)
    return dg.Output(None, metadata=meta)


@dg.job(name=ROUTE_JOB, description=__doc__, tags=LAKE_WRITER_TAGS)  # it commits to the routing queue
def route_cohort_job() -> None:
    route_cohort_op()


@dg.observable_source_asset(
    key=["audit", "routing_queue"],
    group_name="audit",
    description="The durable routing queue (written by `radlake route run` / `route send`, outside Dagster). "
    "Observing it records per destination the queue depth, the oldest wait since landing and the dead letters.",
    metadata={"dagster/column_schema": column_schema(catalog.table("audit", "routing_queue"))},
)
def routing_queue(radlake: RadlakeResource) -> dg.ObserveResult:
    from ingestion.routing import queue_metrics

    metrics = queue_metrics(radlake.settings())
    meta: dict[str, object] = {
        "waiting": int(sum(m["waiting"] for m in metrics.values())),
        "oldest_waiting_seconds": max((m["oldest_waiting_seconds"] for m in metrics.values()), default=0.0),
        "dead_letter": int(sum(m["dead"] for m in metrics.values())),
        "sent": int(sum(m["sent"] for m in metrics.values())),
        "by_destination": dg.MetadataValue.json(metrics),
    }
    return dg.ObserveResult(metadata=meta)  # type: ignore[arg-type]


def routing_results(settings: Settings) -> dg.AssetSpec:
    """AI results `radlake route results` links to their studies: an input of the graph (the AI marts read it)
    that no asset materialises."""
    args = lake_asset_args(settings, catalog.table("bronze", "routing_results"))
    args["description"] += " Written by `radlake route results`."
    return dg.AssetSpec(**args, kinds={"delta"})
