-- Every record whose exams carry an empi_id other than the EMPI's own (patient_master) is listed.
{% if delta_table_exists('silver', 'patient_master') %}
with stale as (
    select distinct master.record_id
    from {{ source('silver', 'exams') }} as exams
    inner join {{ source('silver', 'patient_master') }} as master
        on master.record_id = exams.institution || ':' || exams.mrn
    where exams.empi_id is not null and exams.empi_id <> master.empi_id
)

select stale.record_id
from stale
left join {{ ref('link_quality_patient_candidates') }} as mart using (record_id)
where mart.record_id is null
{% else %}
select 1 as nothing where false
{% endif %}
