-- Reports that missed their deadline (seed report_deadlines: emergency 30 minutes, consultations 12 hours after
-- the exam ends, per institution): late ones, and missing ones whose deadline passed before the data's as-of.
-- The verdicts are report_timeliness' (analysts' file, by exam_key); this stewards' list adds the accession
-- number and the exact times a steward needs to chase the report.
with clock as (
    select * from {{ ref('report_timeliness') }}
    where timeliness in ('late', 'missing')
),

exams as (
    select exam_key, accession_number, exam_ended_at, report_written_at, report_signed_at
    from {{ ref('stg_silver__exams') }}
),

final as (
    select
        clock.institution,
        exams.accession_number,
        clock.exam_key,
        clock.exam_date,
        clock.priority,
        clock.ordering_department,
        clock.modality,
        clock.device_station,
        clock.timeliness as breach,
        clock.deadline_minutes,
        clock.clock_stop,
        exams.exam_ended_at,
        exams.exam_ended_at + to_minutes(clock.deadline_minutes) as deadline_at,
        case clock.clock_stop when 'report_signed' then exams.report_signed_at else exams.report_written_at end
            as clock_stopped_at,
        round(clock.minutes_taken, 1) as minutes_taken,
        round(clock.minutes_taken - clock.deadline_minutes, 1) as minutes_over,
        clock.as_of
    from clock
    inner join exams on exams.exam_key = clock.exam_key
)

select * from final
