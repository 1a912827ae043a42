"""Patient master index (EMPI): link patient records across institutions into one id per person."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from transforms.empi.files import (
        export_review_queue,
        import_review_file,
        link_records_file,
        read_records_file,
        store_review_decisions,
    )
    from transforms.empi.job import run_empi, run_event_counts
    from transforms.empi.linkage import LinkageConfig
    from transforms.empi.master import EmpiRun, PreviousRun, link_patients
    from transforms.empi.outofcore import RegistryFiles, RegistryRun, link_registry
    from transforms.empi.review import REVIEW_COLUMNS, DecisionError, decisions_from_review
    from transforms.empi.store import decisions_uri, save_decisions

__all__ = [
    "REVIEW_COLUMNS",
    "DecisionError",
    "EmpiRun",
    "LinkageConfig",
    "PreviousRun",
    "RegistryFiles",
    "RegistryRun",
    "decisions_from_review",
    "decisions_uri",
    "export_review_queue",
    "import_review_file",
    "link_patients",
    "link_records_file",
    "link_registry",
    "read_records_file",
    "run_empi",
    "run_event_counts",
    "save_decisions",
    "store_review_decisions",
]

__getattr__ = lazy_face(
    __name__,
    {
        "export_review_queue": "files",
        "import_review_file": "files",
        "link_records_file": "files",
        "read_records_file": "files",
        "store_review_decisions": "files",
        "DecisionError": "review",
        "EmpiRun": "master",
        "LinkageConfig": "linkage",
        "PreviousRun": "master",
        "RegistryFiles": "outofcore",
        "RegistryRun": "outofcore",
        "REVIEW_COLUMNS": "review",
        "decisions_from_review": "review",
        "decisions_uri": "store",
        "link_patients": "master",
        "link_registry": "outofcore",
        "run_empi": "job",
        "run_event_counts": "job",
        "save_decisions": "store",
    },
)
