-- Report deadlines met per local exam day, institution and priority (only priorities with a deadline).
-- Priorities with fewer than min_cell exams (privacy.min_cell) at an institution that day are folded into one
-- '(other)' row of that day and institution (folded = true; no deadline of its own): totals stay whole.
with clock as (
    select * from {{ ref('report_timeliness') }}
),

cells as (
    select exam_date, institution, priority, count(*) < {{ min_cell() }} as small
    from clock
    group by exam_date, institution, priority
),

placed as (
    select
        clock.*,
        case when cells.small then {{ other_bucket() }} else clock.priority end as shown_priority,
        cells.small as folded
    from clock
    inner join cells using (exam_date, institution, priority)
),

final as (
    select
        exam_date,
        institution,
        shown_priority as priority,
        case when folded then null else any_value(deadline_minutes) end as deadline_minutes,
        count(*) as exams,
        count(*) filter (where timeliness = 'on_time') as on_time,
        count(*) filter (where timeliness = 'late') as late,
        count(*) filter (where timeliness = 'missing') as missing,
        count(*) filter (where timeliness = 'pending') as pending,
        round(
            count(*) filter (where timeliness = 'on_time')
            / nullif(count(*) filter (where timeliness <> 'pending'), 0),
            4
        ) as on_time_share,
        folded
    from placed
    group by exam_date, institution, shown_priority, folded
)

select * from final
