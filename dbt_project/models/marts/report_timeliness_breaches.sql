-- Reports that missed their deadline (seed report_deadlines: emergency 30 minutes, consultations 12 hours after
-- the exam ends, per institution): late ones, and missing ones whose deadline passed before the data's as-of.
with clock as (
    select * from {{ ref('report_timeliness') }}
    where timeliness in ('late', 'missing')
),

final as (
    select
        institution,
        accession_number,
        exam_date,
        priority,
        ordering_department,
        modality,
        device_station,
        timeliness as breach,
        deadline_minutes,
        clock_stop,
        exam_ended_at,
        deadline_at,
        clock_stopped_at,
        round(minutes_taken, 1) as minutes_taken,
        round(minutes_taken - deadline_minutes, 1) as minutes_over,
        as_of
    from clock
)

select * from final
