{#
  The header fields stg_bronze__dicom_instances measures: DICOM keyword -> its presence flag column. The seed
  consensus_header_fields may require any of these (its accepted_values test lists the same keywords).
#}
{% macro header_field_flags() %}
  {{ return({
      'InstitutionName': 'has_institution_name',
      'PatientName': 'has_patient_name',
      'PatientSex': 'has_patient_sex',
      'PatientAge': 'has_patient_age',
      'PatientID': 'has_patient_id',
      'AccessionNumber': 'has_accession_number',
      'StudyDate': 'has_study_date',
      'StudyTime': 'has_study_time',
      'BodyPartExamined': 'has_body_part_examined',
      'Manufacturer': 'has_manufacturer',
      'SliceThickness': 'has_slice_thickness',
      'KVP': 'has_kvp',
      'Exposure': 'has_exposure',
      'MagneticFieldStrength': 'has_magnetic_field_strength',
      'RepetitionTime': 'has_repetition_time',
      'EchoTime': 'has_echo_time',
  }) }}
{% endmacro %}
