-- data_assets_monthly recomputed from bronze/dicom_instances and silver/exams (the lake, not silver's roll-up):
-- each study by the roll-up rule of transforms.dicom.rollups (smallest value where instances disagree, distinct
-- modalities, series and instances counted as distinct UIDs). Any row returned is a mismatch.
{% if delta_table_exists('bronze', 'dicom_instances') %}
with studies as (
    select
        study_instance_uid,
        min(study_date) as study_date,
        nullif(array_to_string(list_transform(
            list_sort(list_distinct(list(modality) filter (where modality is not null))), m -> upper(trim(m))
        ), ','), '') as modality,
        nullif(trim(min(accession_number)), '') as accession_number,
        count(distinct series_instance_uid) as series,
        count(distinct sop_instance_uid) as instances
    from {{ source('bronze', 'dicom_instances') }}
    where study_instance_uid is not null
    group by study_instance_uid
),

orders as (
    select accession_number, min(institution) as institution
    from {{ source('silver', 'exams') }}
    group by accession_number
),

cells as (
    select cast(date_trunc('month', s.study_date) as date) as study_month,
        coalesce(o.institution, '(unlinked)') as institution, coalesce(s.modality, 'unknown') as modality,
        count(*) as studies, sum(s.series) as series, sum(s.instances) as instances
    from studies as s
    left join orders as o on o.accession_number = s.accession_number
    group by all
),

-- Modalities of fewer than min_cell studies in a month at an institution share its '(other)' row.
expected as (
    select study_month, institution, if(studies < {{ min_cell() }}, '(other)', modality) as modality,
        sum(studies) as studies, sum(series) as series, sum(instances) as instances,
        studies < {{ min_cell() }} as folded
    from cells
    group by all
)

(select * from expected except select * from {{ ref('data_assets_monthly') }})
union all
(select * from {{ ref('data_assets_monthly') }} except select * from expected)
{% else %}
select 1 as nothing where false
{% endif %}
