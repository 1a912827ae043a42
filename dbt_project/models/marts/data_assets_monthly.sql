-- DICOM holdings per study month, institution and modality: studies, series and instances. A study takes the
-- institution of the order it links to; one that links to no order counts under '(unlinked)'. Modalities with
-- fewer than min_cell studies (privacy.min_cell) in a month at an institution are folded into one '(other)' row
-- of that month and institution (folded = true): the institution's totals stay whole.
with studies as (
    select * from {{ ref('int_dicom_studies') }}
),

cells as (
    select
        cast(date_trunc('month', study_date) as date) as study_month,
        coalesce(institution, '(unlinked)') as institution,
        coalesce(modality, 'unknown') as modality,
        count(*) as studies,
        sum(series_count) as series,
        sum(instance_count) as instances
    from studies
    group by all
),

final as (
    select
        study_month,
        institution,
        case when small then {{ other_bucket() }} else modality end as modality,
        cast(sum(studies) as bigint) as studies,  -- a count stays an integer (not HUGEINT) for BI tools
        cast(sum(series) as bigint) as series,
        cast(sum(instances) as bigint) as instances,
        small as folded
    from (select *, studies < {{ min_cell() }} as small from cells)
    group by all
)

select * from final
