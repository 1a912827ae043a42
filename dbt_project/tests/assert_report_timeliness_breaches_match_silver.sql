-- Emergency reports written more than the default deadline after the exam ended, straight from silver/exams,
-- are listed as late breaches (when no institution overrides the emergency deadline).
with rule as (
    select max_minutes from {{ ref('report_deadlines') }}
    where institution = '*' and priority = 'emergency' and clock_stop = 'report_written'
),

silver as (
    select exams.institution, exams.accession_number
    from {{ source('silver', 'exams') }} as exams
    cross join rule
    where exams.priority = 'emergency' and exams.status <> 'cancelled' and exams.exam_started_at is not null
      and epoch(exams.report_written_at) - epoch(exams.exam_ended_at) > rule.max_minutes * 60
      and not exists (
          select 1 from {{ ref('report_deadlines') }} as own
          where own.institution = exams.institution and own.priority = 'emergency'
      )
)

select silver.*
from silver
left join {{ ref('report_timeliness_breaches') }} as mart using (institution, accession_number)
where mart.breach is distinct from 'late'
