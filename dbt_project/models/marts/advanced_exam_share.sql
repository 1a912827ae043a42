-- Share of advanced exams (CT/MR contrast, CTA, MR functional sequences) per institution, ordering department
-- and month of the exam, judged from the standard codes of the performed exams. Departments with fewer than
-- min_cell exams (privacy.min_cell) in a month are folded into one '(other)' department of the institution and
-- month (folded = true): the institution's totals stay whole.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed
),

flags as (
    select
        institution,
        exam_key,
        bool_or(is_contrast) as is_contrast,
        bool_or(is_cta) as is_cta,
        bool_or(is_mr_functional) as is_mr_functional
    from {{ ref('exam_standard_items') }}
    group by institution, exam_key
),

exam_flags as (
    select
        exams.institution,
        exams.ordering_department,
        cast(date_trunc('month', exams.exam_date) as date) as exam_month,
        exams.modality in ('CT', 'MR') as is_ct_or_mr,
        flags.exam_key is not null as is_coded,
        coalesce(flags.is_contrast, false) as is_contrast,
        coalesce(flags.is_cta, false) as is_cta,
        coalesce(flags.is_mr_functional, false) as is_mr_functional
    from exams
    left join flags
        on flags.institution = exams.institution and flags.exam_key = exams.exam_key
),

cells as (
    select
        *,
        count(*) over (partition by institution, ordering_department, exam_month) < {{ min_cell() }} as folded
    from exam_flags
),

final as (
    select
        institution,
        case when folded then {{ other_bucket() }} else ordering_department end as ordering_department,
        exam_month,
        count(*) as performed_exams,
        count(*) filter (where is_coded) as coded_exams,
        count(*) filter (where is_ct_or_mr) as ct_mr_exams,
        count(*) filter (where is_contrast) as contrast_exams,
        count(*) filter (where is_cta) as cta_exams,
        count(*) filter (where is_mr_functional) as mr_functional_exams,
        count(*) filter (where is_contrast or is_cta or is_mr_functional) as advanced_exams,
        round(count(*) filter (where is_contrast or is_cta or is_mr_functional) / count(*), 4) as advanced_share,
        round(
            count(*) filter (where is_contrast or is_cta or is_mr_functional)
            / nullif(count(*) filter (where is_ct_or_mr), 0),
            4
        ) as advanced_share_of_ct_mr,
        folded
    from cells
    group by all
)

select * from final
