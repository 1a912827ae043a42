"""Pulling studies from a PACS: C-FIND over time windows, C-MOVE or C-GET, a resumable state per study."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from ingestion.pacs.pull import pull_studies

__all__ = [
    "pull_studies",
]

__getattr__ = lazy_face(
    __name__,
    {
        "pull_studies": "pull",
    },
)
