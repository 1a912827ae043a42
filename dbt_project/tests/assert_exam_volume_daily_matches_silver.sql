-- Performed exams per institution and day, counted straight from silver/exams, equal exam_volume_daily's.
with silver as (
    select institution, exam_date, count(*) as exams
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled'
    group by all
),

mart as (
    select institution, exam_date, sum(exam_count) as exams
    from {{ ref('exam_volume_daily') }}
    group by all
)

select *
from silver
full outer join mart using (institution, exam_date)
where silver.exams is distinct from mart.exams
