-- Link quality per institution: performed exams without images, exams without an empi_id, patient records with
-- several candidate empi ids (studies without an order have no institution code: see link_quality_orphan_studies).
with exams as (
    select * from {{ ref('stg_silver__exams') }}
),

exam_figures as (
    select
        institution,
        count(*) filter (where is_performed) as performed_exams,
        count(*) filter (where is_performed and not coalesce(has_images, false)) as exams_without_images,
        count(*) filter (where empi_id is null) as exams_without_empi
    from exams
    group by institution
),

candidates as (
    select institution, count(*) as records_with_several_empi_ids
    from {{ ref('link_quality_patient_candidates') }}
    group by institution
)

select
    exam_figures.institution,
    exam_figures.performed_exams,
    exam_figures.exams_without_images,
    round(exam_figures.exams_without_images / nullif(exam_figures.performed_exams, 0), 4)
        as exams_without_images_share,
    exam_figures.exams_without_empi,
    coalesce(candidates.records_with_several_empi_ids, 0) as records_with_several_empi_ids
from exam_figures
left join candidates on candidates.institution = exam_figures.institution
