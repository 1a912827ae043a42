-- CT series thicker than the limit, found in bronze/dicom_instances directly.
{% if delta_table_exists('bronze', 'dicom_instances') %}
with bronze as (
    select series_instance_uid
    from {{ source('bronze', 'dicom_instances') }}
    where upper(trim(modality)) = 'CT'
    group by series_instance_uid
    having max(slice_thickness) > {{ var('ct_max_slice_thickness_mm', 5) }}
),

mart as (
    select series_instance_uid
    from {{ ref('acquisition_rule_violations') }}
    where rule_id = 'ct_slice_thickness'
)

select *
from bronze
full outer join mart using (series_instance_uid)
where bronze.series_instance_uid is null or mart.series_instance_uid is null
{% else %}
select 1 as nothing where false
{% endif %}
