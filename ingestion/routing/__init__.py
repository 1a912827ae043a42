"""Routing: landed instances forwarded by rule to DICOM peers and folders, through a durable queue in the lake."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from ingestion.routing.results import link_results
    from ingestion.routing.router import Router, RouteSummary, cohort_instances, queue_metrics
    from ingestion.routing.rules import Destination, resolve_destination
    from ingestion.routing.send import CohortSend, send_cohort

__all__ = [
    "CohortSend",
    "Destination",
    "RouteSummary",
    "Router",
    "cohort_instances",
    "link_results",
    "queue_metrics",
    "resolve_destination",
    "send_cohort",
]

__getattr__ = lazy_face(
    __name__,
    {
        "CohortSend": "send",
        "send_cohort": "send",
        "Destination": "rules",
        "RouteSummary": "router",
        "Router": "router",
        "cohort_instances": "router",
        "link_results": "results",
        "queue_metrics": "router",
        "resolve_destination": "rules",
    },
)
