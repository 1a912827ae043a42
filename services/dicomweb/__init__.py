"""DICOMweb of a data space from the lake's index: QIDO-RS, WADO-RS metadata and instance retrieval."""

from services.dicomweb.router import router

__all__ = ["router"]
