-- One row per DICOM series, rolled up from the instances (the columns the acquisition rules read).
with instances as (
    select * from {{ ref('stg_bronze__dicom_instances') }}
)

select
    series_instance_uid,
    any_value(study_instance_uid) as study_instance_uid,
    mode(modality) as modality,
    mode(station_name) as station_name,
    mode(body_part_examined) as body_part_examined,
    min(study_date) as study_date,
    count(*) as instance_count,
    min(slice_thickness) as min_slice_thickness,
    max(slice_thickness) as max_slice_thickness
from instances
where series_instance_uid is not null
group by series_instance_uid
