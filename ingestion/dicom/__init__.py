"""DICOM ingestion: folders and C-STORE → bronze/dicom_files and bronze/dicom_instances (see ``api``)."""
