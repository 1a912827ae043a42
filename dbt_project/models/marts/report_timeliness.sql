-- One row per performed exam whose priority has a report deadline: the deadline that applies (the institution's
-- own row in seed report_deadlines, else the group default '*') and whether the report met it.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed and exam_ended_at is not null
),

deadlines as (
    select * from {{ ref('report_deadlines') }}
),

-- The clock of a report still missing runs until "now" of the data: the latest event in silver/exams (so a
-- rebuild of the same lake gives the same answer). dbt var timeliness_as_of overrides it.
as_of as (
    {% if var('timeliness_as_of', none) %}
    select cast('{{ var("timeliness_as_of") }}' as timestamptz) as as_of
    {% else %}
    select max(greatest(ordered_at, exam_started_at, exam_ended_at, report_written_at, report_signed_at)) as as_of
    from {{ ref('stg_silver__exams') }}
    {% endif %}
),

applied as (
    select
        exams.*,
        coalesce(own.max_minutes, dflt.max_minutes) as deadline_minutes,
        coalesce(own.clock_stop, dflt.clock_stop) as clock_stop
    from exams
    left join deadlines as own
        on own.institution = exams.institution and own.priority = exams.priority
    left join deadlines as dflt
        on dflt.institution = '*' and dflt.priority = exams.priority
),

clocked as (
    select
        applied.*,
        as_of.as_of,
        exam_ended_at + to_minutes(deadline_minutes) as deadline_at,
        case clock_stop when 'report_signed' then report_signed_at else report_written_at end as clock_stopped_at
    from applied
    cross join as_of
    where deadline_minutes is not null
),

final as (
    select
        institution,
        exam_key,
        exam_date,
        priority,
        ordering_department,
        modality,
        device_station,
        deadline_minutes,
        clock_stop,
        -- The latest event of the data is some exam's exact time: shown to the hour only.
        date_trunc('hour', as_of) as as_of,
        round({{ minutes_between('exam_ended_at', 'coalesce(clock_stopped_at, as_of)') }}, 1) as minutes_taken,
        case
            when clock_stopped_at is not null and clock_stopped_at <= deadline_at then 'on_time'
            when clock_stopped_at is not null then 'late'
            when as_of > deadline_at then 'missing'
            else 'pending'
        end as timeliness
    from clocked
)

select * from final
