"""FHIR R4 from the lake: Patient, ImagingStudy, DiagnosticReport and Patient/$everything per identified space."""

from services.fhir.router import router
from services.fhir.search import PersonFinder, SearchError, by_key, in_list, rows, space_clause
from services.fhir.systems import Systems

# Eager, not lazy: ``router`` is also a submodule's name (see radlake.faces); FastAPI is loaded by then anyway.
__all__ = ["PersonFinder", "SearchError", "Systems", "by_key", "in_list", "router", "rows", "space_clause"]
