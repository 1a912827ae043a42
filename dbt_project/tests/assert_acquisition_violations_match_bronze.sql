-- CT series thicker than the limit, found in bronze/dicom_instances directly (not through silver's roll-up).
{% if delta_table_exists('bronze', 'dicom_instances') %}
with bronze as (
    select radlake_pseudonym(series_instance_uid) as series_key
    from {{ source('bronze', 'dicom_instances') }}
    where upper(trim(modality)) = 'CT' and series_instance_uid is not null
    group by series_instance_uid
    having max(slice_thickness) > {{ var('ct_max_slice_thickness_mm', 5) }}
),

mart as (
    select series_key
    from {{ ref('acquisition_rule_violations') }}
    where rule_id = 'ct_slice_thickness'
)

select *
from bronze
full outer join mart using (series_key)
where bronze.series_key is null or mart.series_key is null
{% else %}
select 1 as nothing where false
{% endif %}
