-- CT instances without kVp, per device, counted in bronze/dicom_instances, equal the KVP gap in the mart.
{% if delta_table_exists('bronze', 'dicom_instances') %}
with bronze as (
    select coalesce(nullif(trim(station_name), ''), '(missing)') as station_name, count(*) filter (where kvp is null) as missing
    from {{ source('bronze', 'dicom_instances') }}
    where upper(trim(modality)) = 'CT'
    group by all
),

mart as (
    select station_name, sum(instances - instances_present) as missing
    from {{ ref('dicom_header_completeness') }}
    where modality = 'CT' and header_field = 'KVP'
    group by all
)

select *
from bronze
full outer join mart using (station_name)
where bronze.missing is distinct from mart.missing
  and exists (select 1 from {{ ref('consensus_header_fields') }} where modality = 'CT' and header_field = 'KVP')
{% else %}
select 1 as nothing where false
{% endif %}
