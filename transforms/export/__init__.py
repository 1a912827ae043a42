"""The research export: a cohort's instances de-identified (PS3.15 Annex E) into a BagIt bag.

Every name is loaded on first use: the per-instance work (``export_instance``) needs only pydicom, so a worker
process that de-identifies files does not pay for the lake job's (``ExportRun``) and Spark's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.export.instance import burned_in_reason, export_instance
    from transforms.export.job import ExportRun, ExportSummary
    from transforms.export.route import routing_deidentifier

__all__ = [
    "ExportRun",
    "ExportSummary",
    "burned_in_reason",
    "export_instance",
    "routing_deidentifier",
]

__getattr__ = lazy_face(
    __name__,
    {
        "ExportRun": "job",
        "ExportSummary": "job",
        "burned_in_reason": "instance",
        "export_instance": "instance",
        "routing_deidentifier": "route",
    },
)
