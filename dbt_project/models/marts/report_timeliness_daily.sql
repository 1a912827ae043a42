-- Report deadlines met per local exam day, institution and priority (only priorities with a deadline).
with clock as (
    select * from {{ ref('report_timeliness') }}
),

final as (
    select
        exam_date,
        institution,
        priority,
        any_value(deadline_minutes) as deadline_minutes,
        count(*) as exams,
        count(*) filter (where timeliness = 'on_time') as on_time,
        count(*) filter (where timeliness = 'late') as late,
        count(*) filter (where timeliness = 'missing') as missing,
        count(*) filter (where timeliness = 'pending') as pending,
        round(
            count(*) filter (where timeliness = 'on_time')
            / nullif(count(*) filter (where timeliness <> 'pending'), 0),
            4
        ) as on_time_share
    from clock
    group by exam_date, institution, priority
)

select * from final
