"""DICOMweb of a data space from the lake's index: QIDO-RS, WADO-RS metadata and instance retrieval."""

from services.dicomweb.router import router

# Eager, not lazy: ``router`` is also a submodule's name (see radlake.faces).
__all__ = ["router"]
