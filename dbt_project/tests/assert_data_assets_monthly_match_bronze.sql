-- data_assets_monthly recomputed from bronze/dicom_instances and silver/exams: any row returned is a mismatch.
with instances as (
    select study_instance_uid, series_instance_uid, study_date, upper(trim(modality)) as modality,
        nullif(trim(accession_number), '') as accession_number
    from {{ ref('stg_bronze__dicom_instances') }}
    where study_instance_uid is not null
),

orders as (
    select accession_number, min(institution) as institution
    from {{ ref('stg_silver__exams') }}
    group by accession_number
),

studies as (
    select study_instance_uid, min(study_date) as study_date, mode(modality) as modality,
        mode(accession_number) as accession_number, count(distinct series_instance_uid) as series,
        count(*) as instances
    from instances
    group by study_instance_uid
),

expected as (
    select cast(date_trunc('month', s.study_date) as date) as study_month,
        coalesce(o.institution, 'unlinked') as institution, coalesce(s.modality, 'unknown') as modality,
        count(*) as studies, sum(s.series) as series, sum(s.instances) as instances
    from studies s
    left join orders o on o.accession_number = s.accession_number
    group by all
)

(select * from expected except select * from {{ ref('data_assets_monthly') }})
union all
(select * from {{ ref('data_assets_monthly') }} except select * from expected)
