"""Routing: landed instances forwarded by rule to DICOM peers and folders, through a durable queue in the lake."""

from ingestion.routing.router import Router, RouteSummary, cohort_instances, queue_metrics
from ingestion.routing.rules import Destination, resolve_destination

__all__ = ["Destination", "RouteSummary", "Router", "cohort_instances", "queue_metrics", "resolve_destination"]
