-- Exams with a deadline per institution, from silver/exams and the priorities the seed names.
with silver as (
    select exams.institution, count(*) as exams
    from {{ source('silver', 'exams') }} as exams
    where exams.exam_started_at is not null and exams.exam_ended_at is not null and exams.status <> 'cancelled'
      and exams.priority in (select priority from {{ ref('report_deadlines') }})
    group by all
),

mart as (
    select institution, sum(exams) as exams
    from {{ ref('report_timeliness_daily') }}
    group by all
)

select *
from silver
full outer join mart using (institution)
where silver.exams is distinct from mart.exams
