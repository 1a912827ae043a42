-- Per device (station) and local exam day: exams, busy minutes, the working span from the first start to the
-- last end, and the idle gaps between consecutive exams (overlapping exams leave no gap). Never an exact time:
-- the day's first and last hour only, and for a device-day of fewer than min_cell exams not even those (nor the
-- span and gaps, which would place its exams in the day): its exams and busy minutes are all it shows.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed and device_station is not null and exam_ended_at is not null
),

ordered as (
    select
        exam_date,
        institution,
        device_station,
        modality,
        exam_started_at,
        exam_ended_at,
        -- The latest end among the earlier exams of the day: the device is idle from then until this start.
        max(exam_ended_at) over (
            partition by exam_date, institution, device_station
            order by exam_started_at, exam_ended_at
            rows between unbounded preceding and 1 preceding
        ) as previous_end
    from exams
),

gaps as (
    select
        *,
        greatest({{ minutes_between('previous_end', 'exam_started_at') }}, 0) as idle_before
    from ordered
),

figures as (
    select
        exam_date,
        institution,
        device_station,
        mode(modality) as modality,
        count(*) as exam_count,
        round(sum({{ minutes_between('exam_started_at', 'exam_ended_at') }}), 1) as busy_minutes,
        hour(min(exam_started_at)) as first_exam_hour,
        hour(max(exam_ended_at)) as last_exam_hour,
        round({{ minutes_between('min(exam_started_at)', 'max(exam_ended_at)') }}, 1) as span_minutes,
        round(coalesce(sum(idle_before), 0), 1) as idle_minutes,
        count(*) filter (where idle_before >= {{ var('idle_gap_minutes', 30) }}) as idle_gaps,
        round(coalesce(max(idle_before), 0), 1) as longest_idle_gap_minutes,
        round(
            sum({{ minutes_between('exam_started_at', 'exam_ended_at') }})
            / nullif({{ minutes_between('min(exam_started_at)', 'max(exam_ended_at)') }}, 0),
            4
        ) as busy_share_of_span
    from gaps
    group by exam_date, institution, device_station
),

final as (
    select
        exam_date,
        institution,
        device_station,
        modality,
        exam_count,
        busy_minutes,
        case when small then null else first_exam_hour end as first_exam_hour,
        case when small then null else last_exam_hour end as last_exam_hour,
        case when small then null else span_minutes end as span_minutes,
        case when small then null else idle_minutes end as idle_minutes,
        case when small then null else idle_gaps end as idle_gaps,
        case when small then null else longest_idle_gap_minutes end as longest_idle_gap_minutes,
        case when small then null else busy_share_of_span end as busy_share_of_span,
        small as below_min_cell
    from (select *, exam_count < {{ min_cell() }} as small from figures)
)

select * from final
