-- Every record whose exams carry an empi_id other than the EMPI's own (patient_master) is listed.
{% if delta_table_exists('silver', 'patient_master') %}
with stale as (
    select distinct {{ pseudonym("exams.institution || ':' || exams.mrn") }} as patient_record_key
    from {{ source('silver', 'exams') }} as exams
    inner join {{ source('silver', 'patient_master') }} as master
        on master.record_id = exams.institution || ':' || exams.mrn
    where exams.empi_id is not null and exams.empi_id <> master.empi_id
)

select stale.patient_record_key
from stale
left join {{ ref('link_quality_patient_candidates') }} as mart using (patient_record_key)
where mart.patient_record_key is null
{% else %}
select 1 as nothing where false
{% endif %}
