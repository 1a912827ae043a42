-- Late reports per institution and priority from silver/exams and the deadlines seed (institution row first).
with deadlines as (
    select exams.institution, exams.accession_number,
           coalesce(own.max_minutes, dflt.max_minutes) as max_minutes,
           coalesce(own.clock_stop, dflt.clock_stop) as clock_stop,
           exams.priority, exams.exam_ended_at, exams.report_written_at, exams.report_signed_at
    from {{ source('silver', 'exams') }} as exams
    left join {{ ref('report_deadlines') }} as own on own.institution = exams.institution and own.priority = exams.priority
    left join {{ ref('report_deadlines') }} as dflt on dflt.institution = '*' and dflt.priority = exams.priority
    where exams.exam_started_at is not null and exams.exam_ended_at is not null and exams.status <> 'cancelled'
),

silver as (
    select institution, priority, count(*) as late
    from deadlines
    where max_minutes is not null
      and epoch(case clock_stop when 'report_signed' then report_signed_at else report_written_at end)
          - epoch(exam_ended_at) > max_minutes * 60
    group by all
),

mart as (
    select institution, priority, count(*) as late
    from {{ ref('report_timeliness') }}
    where timeliness = 'late'
    group by all
)

select *
from silver
full outer join mart using (institution, priority)
where silver.late is distinct from mart.late
