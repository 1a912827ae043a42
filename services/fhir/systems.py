"""The FHIR identifier and code systems radlake uses: DICOM's and HL7's, and the ones this site defines.

The site's own systems hang under ``serve.fhir_base_uri`` (docs/FHIR.md lists them):

- ``{base}/sid/empi``: the master index's person id (``E`` + 10 digits), the Patient's id;
- ``{base}/sid/mrn/{institution}``: an institution's medical record number;
- ``{base}/sid/accession/{institution}``: an institution's accession number;
- ``{base}/sid/resident-id``: the resident identity card number (18 characters);
- ``{base}/CodeSystem/exam-standard``: the 14-digit standard exam codes (radlake/reference/exam_standard).
"""

from __future__ import annotations

from dataclasses import dataclass

DICOM_UID = "urn:dicom:uid"
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_DIAGNOSTIC_SECTION = "http://terminology.hl7.org/CodeSystem/v2-0074"
ENDPOINT_CONNECTION = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"


@dataclass(frozen=True)
class Systems:
    """The site's systems for one ``fhir_base_uri``."""

    base: str

    @property
    def empi(self) -> str:
        return f"{self.base}/sid/empi"

    @property
    def resident_id(self) -> str:
        return f"{self.base}/sid/resident-id"

    @property
    def exam_standard(self) -> str:
        return f"{self.base}/CodeSystem/exam-standard"

    def mrn(self, institution: str) -> str:
        return f"{self.base}/sid/mrn/{institution}"

    def accession(self, institution: str) -> str:
        return f"{self.base}/sid/accession/{institution}"

    def institution_of(self, system: str, kind: str) -> str | None:
        """The institution a ``mrn`` or ``accession`` system names, else None."""
        prefix = f"{self.base}/sid/{kind}/"
        rest = system[len(prefix) :] if system.startswith(prefix) else ""
        return rest if rest and "/" not in rest else None
