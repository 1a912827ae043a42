"""silver/dicom_series and silver/dicom_studies: roll-ups of bronze/dicom_instances; and the DICOMweb index."""

ROLLUP_TABLES = (
    "dicom_series",
    "dicom_studies",
    "dicomweb_studies",
    "dicomweb_series",
    "dicomweb_instances",
    "dicom_frames",
)
"""The silver tables the roll-up job writes together (the Dagster multi-asset's keys)."""
