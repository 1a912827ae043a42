"""The research export: a cohort's instances de-identified (PS3.15 Annex E) into a BagIt bag.

``ExportRun`` (the lake job) is loaded on first use: the per-instance work (``export_instance``) needs only
pydicom, so a worker process that de-identifies files does not pay for the lake's and Spark's imports.
"""

from typing import Any

from transforms.export.instance import burned_in_reason, export_instance

__all__ = ["ExportRun", "ExportSummary", "burned_in_reason", "export_instance"]


def __getattr__(name: str) -> Any:
    if name in ("ExportRun", "ExportSummary"):
        from transforms.export import job

        return getattr(job, name)
    raise AttributeError(name)
