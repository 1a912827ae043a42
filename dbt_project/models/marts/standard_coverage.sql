-- Adoption of the exam standard per institution: the share of ordered exams whose raw name maps to a standard
-- code, and the same over distinct raw names. Billing lines that are no exam (status not_exam) are left out.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
),

names as (
    select * from {{ ref('stg_silver__exam_name_map') }}
),

exam_figures as (
    select
        institution,
        count(*) as ordered_lines,
        count(*) filter (where exam_name_status = 'not_exam') as not_exam_lines,
        count(*) filter (where coalesce(exam_name_status, '') <> 'not_exam') as exams,
        count(*) filter (where exam_name_status = 'matched' and len(exam_codes) > 0) as mapped_exams,
        count(*) filter (where exam_name_status = 'review') as review_exams,
        count(*) filter (where exam_name_status = 'unmatched') as unmatched_exams,
        count(*) filter (where exam_name_status is null) as unmapped_exams
    from exams
    group by institution
),

name_figures as (
    select
        institution,
        count(*) filter (where mapping_status <> 'not_exam') as raw_names,
        count(*) filter (where mapping_status = 'matched' and len(codes) > 0) as mapped_raw_names,
        string_agg(distinct standard_version, ',' order by standard_version) as standard_versions
    from names
    group by institution
),

final as (
    select
        exam_figures.institution,
        exam_figures.ordered_lines,
        exam_figures.not_exam_lines,
        exam_figures.exams,
        exam_figures.mapped_exams,
        exam_figures.review_exams,
        exam_figures.unmatched_exams,
        exam_figures.unmapped_exams,
        round(exam_figures.mapped_exams / nullif(exam_figures.exams, 0), 4) as coverage_share,
        coalesce(name_figures.raw_names, 0) as raw_names,
        coalesce(name_figures.mapped_raw_names, 0) as mapped_raw_names,
        round(name_figures.mapped_raw_names / nullif(name_figures.raw_names, 0), 4) as raw_name_coverage_share,
        name_figures.standard_versions
    from exam_figures
    left join name_figures on name_figures.institution = exam_figures.institution
)

select * from final
