"""Static offline dashboards built from the analysts' warehouse, and the stewards' quality console."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from dashboards.build import build_dashboards, default_dir

__all__ = [
    "build_dashboards",
    "default_dir",
]

__getattr__ = lazy_face(
    __name__,
    {
        "build_dashboards": "build",
        "default_dir": "build",
    },
)
