-- Ranking of ordering departments across the group by breadth (distinct standard items performed), volume
-- (performed exams) and timeliness (median minutes from exam end to written report; faster ranks higher).
-- Departments with fewer than min_cell performed exams (privacy.min_cell) are folded into one '(other)' row per
-- institution (folded = true): counted, but not ranked (it is no department), and without its median while the
-- row itself stays under min_cell.
with department_exams as (
    select
        *,
        count(*) over (partition by institution, ordering_department) < {{ min_cell() }} as folded
    from {{ ref('stg_silver__exams') }}
    where is_performed and ordering_department is not null
),

exams as (
    select
        * exclude (ordering_department),
        case when folded then {{ other_bucket() }} else ordering_department end as ordering_department,
        ordering_department as own_department
    from department_exams
),

items as (
    select * from {{ ref('exam_standard_items') }}
),

-- Each department and the row it is shown under.
departments as (
    select distinct institution, own_department, ordering_department
    from exams
),

-- Report deadlines, by the row their department is shown under.
clock as (
    select clock.timeliness, departments.institution, departments.ordering_department
    from {{ ref('report_timeliness') }} as clock
    inner join departments
        on departments.institution = clock.institution and departments.own_department = clock.ordering_department
),

breadth as (
    select
        exams.institution,
        exams.ordering_department,
        count(distinct items.standard_code) as distinct_items
    from exams
    inner join items
        on items.institution = exams.institution and items.exam_key = exams.exam_key
    group by all
),

volume as (
    select
        institution,
        ordering_department,
        bool_or(folded) as folded,
        count(*) as performed_exams,
        case when count(*) >= {{ min_cell() }} then
            quantile_cont({{ minutes_between('exam_ended_at', 'report_written_at') }}, 0.5)
        end as median_report_minutes
    from exams
    group by all
),

deadlines as (
    select
        institution,
        ordering_department,
        count(*) filter (where timeliness in ('on_time', 'late', 'missing')) as deadline_reports,
        count(*) filter (where timeliness = 'on_time') as on_time_reports
    from clock
    group by all
),

combined as (
    select
        volume.institution,
        volume.ordering_department,
        volume.folded,
        coalesce(breadth.distinct_items, 0) as distinct_items,
        volume.performed_exams,
        round(volume.median_report_minutes, 1) as median_report_minutes,
        coalesce(deadlines.deadline_reports, 0) as deadline_reports,
        round(deadlines.on_time_reports / nullif(deadlines.deadline_reports, 0), 4) as on_time_share
    from volume
    left join breadth
        on breadth.institution = volume.institution and breadth.ordering_department = volume.ordering_department
    left join deadlines
        on deadlines.institution = volume.institution and deadlines.ordering_department = volume.ordering_department
),

scored as (
    select
        *,
        -- Each dimension as a percentile rank over all departments of the group (0 worst .. 1 best); a
        -- department without reports yet is ranked slowest.
        percent_rank() over (order by distinct_items) as breadth_score,
        percent_rank() over (order by performed_exams) as volume_score,
        percent_rank() over (order by coalesce(median_report_minutes, 1e12) desc) as timeliness_score
    from combined
    where not folded
),

final as (
    select
        *,
        round((breadth_score + volume_score + timeliness_score) / 3, 4) as capability_score,
        rank() over (order by round((breadth_score + volume_score + timeliness_score) / 3, 4) desc) as group_rank,
        rank() over (
            partition by institution
            order by round((breadth_score + volume_score + timeliness_score) / 3, 4) desc
        ) as institution_rank
    from scored
)

select
    institution,
    ordering_department,
    distinct_items,
    performed_exams,
    median_report_minutes,
    deadline_reports,
    on_time_share,
    round(breadth_score, 4) as breadth_score,
    round(volume_score, 4) as volume_score,
    round(timeliness_score, 4) as timeliness_score,
    capability_score,
    group_rank,
    institution_rank,
    folded
from final
union all
select
    institution, ordering_department, distinct_items, performed_exams, median_report_minutes, deadline_reports,
    on_time_share,
    cast(null as double), cast(null as double), cast(null as double), cast(null as double),
    cast(null as bigint), cast(null as bigint),
    folded
from combined
where folded
