"""The research export: a cohort's instances de-identified (PS3.15 Annex E) into a BagIt bag."""

from transforms.export.instance import burned_in_reason, export_instance
from transforms.export.job import ExportRun, ExportSummary

__all__ = ["ExportRun", "ExportSummary", "burned_in_reason", "export_instance"]
