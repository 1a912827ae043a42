-- Studies in bronze/dicom_instances whose accession number no silver exam carries are exactly the orphans.
{% if delta_table_exists('bronze', 'dicom_instances') %}
with bronze as (
    select distinct study_instance_uid
    from {{ source('bronze', 'dicom_instances') }} as i
    where study_instance_uid is not null
    group by study_instance_uid
    having not bool_or(
        nullif(trim(i.accession_number), '') in (select accession_number from {{ source('silver', 'exams') }})
    ) or bool_and(nullif(trim(i.accession_number), '') is null)
)

select *
from bronze
full outer join {{ ref('link_quality_orphan_studies') }} as mart using (study_instance_uid)
where bronze.study_instance_uid is null or mart.study_instance_uid is null
{% else %}
select 1 as nothing where false
{% endif %}
