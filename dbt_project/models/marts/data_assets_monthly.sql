-- DICOM holdings per study month, institution and modality: studies, series and instances. A study takes the
-- institution of the order it links to; one that links to no order counts under '(unlinked)'.
with studies as (
    select * from {{ ref('int_dicom_studies') }}
),

final as (
    select
        cast(date_trunc('month', study_date) as date) as study_month,
        coalesce(institution, '(unlinked)') as institution,
        coalesce(modality, 'unknown') as modality,
        count(*) as studies,
        sum(series_count) as series,
        sum(instance_count) as instances
    from studies
    group by all
)

select * from final
