"""FHIR R4 from the lake: Patient, ImagingStudy, DiagnosticReport and Patient/$everything per identified space."""

from services.fhir.router import router

__all__ = ["router"]
