-- Link quality per exam day and institution: performed exams without images, exams without an empi_id, patient
-- records with several candidate empi ids (studies without an order have no institution code: see
-- link_quality_orphan_studies). The day is the exam's (the console's date filter); a patient record counts on
-- the day of its latest exam. Ordered exams never started have no day: they count on a row without one.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
),

exam_figures as (
    select
        exam_date,
        institution,
        count(*) filter (where is_performed) as performed_exams,
        count(*) filter (where is_performed and not coalesce(has_images, false)) as exams_without_images,
        count(*) filter (where empi_id is null) as exams_without_empi
    from exams
    group by exam_date, institution
),

record_days as (
    select record_id, max(exam_date) as exam_date
    from exams
    group by record_id
),

candidates as (
    select record_days.exam_date, candidates.institution, count(*) as records_with_several_empi_ids
    from {{ ref('link_quality_patient_candidates') }} as candidates
    left join record_days on record_days.record_id = candidates.record_id
    group by all
),

days as (
    select exam_date, institution from exam_figures
    union
    select exam_date, institution from candidates
)

select
    days.exam_date,
    days.institution,
    coalesce(exam_figures.performed_exams, 0) as performed_exams,
    coalesce(exam_figures.exams_without_images, 0) as exams_without_images,
    round(exam_figures.exams_without_images / nullif(exam_figures.performed_exams, 0), 4)
        as exams_without_images_share,
    coalesce(exam_figures.exams_without_empi, 0) as exams_without_empi,
    coalesce(candidates.records_with_several_empi_ids, 0) as records_with_several_empi_ids
from days
left join exam_figures
    on exam_figures.institution = days.institution and exam_figures.exam_date is not distinct from days.exam_date
left join candidates
    on candidates.institution = days.institution and candidates.exam_date is not distinct from days.exam_date
