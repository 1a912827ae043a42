-- Performed exams per local exam day, institution and modality.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
),

performed as (
    select institution, exam_date, modality, exam_started_at, exam_ended_at
    from exams
    where exam_started_at is not null
      and status <> 'cancelled'
),

final as (
    select
        exam_date,
        institution,
        modality,
        count(*) as exam_count,
        sum(date_diff('second', exam_started_at, exam_ended_at)) / 60.0 as busy_minutes
    from performed
    group by all
)

select * from final
