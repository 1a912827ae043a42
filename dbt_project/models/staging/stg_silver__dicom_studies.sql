-- DICOM studies as silver rolled them up (transforms.dicom.rollups: the one roll-up rule); optional: empty until
-- DICOM was ingested. PatientName and birth date stay behind; PatientID is kept only to link (stewards).
with source as (
    select * from {{ optional_source('silver', 'dicom_studies') }}
),

renamed as (
    select
        study_instance_uid,
        radlake_pseudonym(study_instance_uid) as study_key,
        nullif(trim(accession_number), '') as accession_number,
        nullif(trim(patient_id), '') as patient_id,
        study_date,
        nullif(trim(institution_name), '') as institution_name,
        nullif(trim(station_name), '') as station_name,
        list_transform(coalesce(modalities, []), m -> upper(trim(m))) as modalities,
        series_count,
        instance_count,
        min_slice_thickness,
        max_slice_thickness
    from source
)

select * from renamed
