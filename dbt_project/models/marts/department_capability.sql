-- Ranking of ordering departments across the group by breadth (distinct standard items performed), volume
-- (performed exams) and timeliness (median minutes from exam end to written report; faster ranks higher).
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed and ordering_department is not null
),

items as (
    select * from {{ ref('exam_standard_items') }}
),

clock as (
    select * from {{ ref('report_timeliness') }}
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
        count(*) as performed_exams,
        quantile_cont({{ minutes_between('exam_ended_at', 'report_written_at') }}, 0.5) as median_report_minutes
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
    where ordering_department is not null
    group by all
),

combined as (
    select
        volume.institution,
        volume.ordering_department,
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
    institution_rank
from final
