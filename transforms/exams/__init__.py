"""silver/exams: RIS orders joined with their exam record, report, DICOM study, codes and empi_id."""
