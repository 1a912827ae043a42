-- Studies in bronze/dicom_instances whose accession number no silver exam carries are exactly the orphans. A
-- study's accession number is the smallest of its instances' (the roll-up rule of transforms.dicom.rollups),
-- recomputed here from bronze, not read from silver/dicom_studies.
{% if delta_table_exists('bronze', 'dicom_instances') %}
with bronze as (
    select study_instance_uid, nullif(trim(min(accession_number)), '') as accession_number
    from {{ source('bronze', 'dicom_instances') }}
    where study_instance_uid is not null
    group by study_instance_uid
),

orphans as (
    select study_instance_uid
    from bronze
    where accession_number is null
       or accession_number not in (select accession_number from {{ source('silver', 'exams') }})
)

select *
from orphans
full outer join {{ ref('link_quality_orphan_studies') }} as mart using (study_instance_uid)
where orphans.study_instance_uid is null or mart.study_instance_uid is null
{% else %}
select 1 as nothing where false
{% endif %}
