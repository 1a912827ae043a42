"""DICOMweb of a data space from the lake's index: QIDO-RS, WADO-RS metadata, instances, frames and rendered."""

from services.dicomweb.frames import router as _pixel_routes
from services.dicomweb.router import router

router.include_router(_pixel_routes)

# Eager, not lazy: ``router`` is also a submodule's name (see radlake.faces).
__all__ = ["router"]
