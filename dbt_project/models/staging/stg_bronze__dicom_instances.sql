-- DICOM instances as the header-completeness mart uses them (optional: empty until DICOM was ingested).
-- Personal header values leave this model only as presence flags. Series and study figures come from the
-- silver roll-ups (stg_silver__dicom_series, stg_silver__dicom_studies), never from here.
with source as (
    select * from {{ optional_source('bronze', 'dicom_instances') }}
),

header as (
    select
        *,
        -- Attributes without a column of their own are read from the DICOM JSON header (PS3.18 F.2).
        json_extract_string(header_json, '$."00101010".Value[0]') as patient_age,
        json_extract_string(header_json, '$."00180087".Value[0]') as magnetic_field_strength,
        json_extract_string(header_json, '$."00180080".Value[0]') as repetition_time,
        json_extract_string(header_json, '$."00180081".Value[0]') as echo_time
    from source
),

renamed as (
    select
        sop_instance_uid,
        study_instance_uid,
        series_instance_uid,
        nullif(trim(accession_number), '') as accession_number,
        upper(trim(modality)) as modality,
        study_date,
        nullif(trim(institution_name), '') as institution_name,
        nullif(trim(station_name), '') as station_name,
        nullif(trim(manufacturer), '') as manufacturer,
        nullif(trim(manufacturer_model_name), '') as manufacturer_model_name,
        upper(nullif(trim(body_part_examined), '')) as body_part_examined,
        slice_thickness,
        kvp,
        exposure_mas,
        -- Presence of the consensus header fields (seed consensus_header_fields; macro header_field_flags).
        coalesce(trim(institution_name) <> '', false) as has_institution_name,
        coalesce(trim(patient_name) <> '', false) as has_patient_name,
        coalesce(trim(patient_sex) <> '', false) as has_patient_sex,
        coalesce(trim(patient_age) <> '', false) as has_patient_age,
        coalesce(trim(patient_id) <> '', false) as has_patient_id,
        coalesce(trim(accession_number) <> '', false) as has_accession_number,
        coalesce(trim(study_date_raw) <> '', false) as has_study_date,
        coalesce(trim(study_time) <> '', false) as has_study_time,
        coalesce(trim(body_part_examined) <> '', false) as has_body_part_examined,
        coalesce(trim(manufacturer) <> '', false) as has_manufacturer,
        slice_thickness is not null as has_slice_thickness,
        kvp is not null as has_kvp,
        exposure_mas is not null as has_exposure,
        coalesce(trim(magnetic_field_strength) <> '', false) as has_magnetic_field_strength,
        coalesce(trim(repetition_time) <> '', false) as has_repetition_time,
        coalesce(trim(echo_time) <> '', false) as has_echo_time
    from header
)

select * from renamed
