-- DICOM series as silver rolled them up (transforms.dicom.rollups: the one roll-up rule); optional: empty until
-- DICOM was ingested. Values are only tidied here (trimmed, upper-case codes), never re-aggregated.
with source as (
    select * from {{ optional_source('silver', 'dicom_series') }}
),

renamed as (
    select
        series_instance_uid,
        study_instance_uid,
        radlake_pseudonym(series_instance_uid) as series_key,
        radlake_pseudonym(study_instance_uid) as study_key,
        upper(trim(modality)) as modality,
        upper(nullif(trim(body_part_examined), '')) as body_part_examined,
        nullif(trim(station_name), '') as station_name,
        study_date,
        instance_count,
        min_slice_thickness,
        max_slice_thickness
    from source
)

select * from renamed
