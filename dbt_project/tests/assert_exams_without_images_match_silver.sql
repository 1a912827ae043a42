-- Performed exams without a study, per institution, from silver/exams (mart and summary agree with it).
with silver as (
    select institution, count(*) filter (where study_instance_uid is null) as without_images
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled'
    group by institution
),

listed as (
    select institution, count(*) as without_images
    from {{ ref('link_quality_exams_without_images') }}
    group by institution
),

summary as (
    select institution, sum(exams_without_images) as exams_without_images
    from {{ ref('link_quality_summary') }}
    group by institution
)

select *
from silver
left join listed using (institution)
left join summary using (institution)
where silver.without_images is distinct from coalesce(listed.without_images, 0)
   or silver.without_images is distinct from summary.exams_without_images
