"""silver/dicom_series and silver/dicom_studies: roll-ups of bronze/dicom_instances."""
