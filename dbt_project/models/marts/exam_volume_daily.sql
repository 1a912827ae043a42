-- Performed exams per local exam day, institution and modality. Modalities with fewer than min_cell exams
-- (privacy.min_cell) at an institution that day are folded into one '(other)' row of that day and institution
-- (folded = true): the day's total stays whole and no row counts a few exams of a named modality.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
),

performed as (
    select institution, exam_date, modality, exam_started_at, exam_ended_at
    from exams
    where exam_started_at is not null
      and status <> 'cancelled'
),

cells as (
    select
        exam_date,
        institution,
        modality,
        count(*) as exam_count,
        sum(date_diff('second', exam_started_at, exam_ended_at)) / 60.0 as busy_minutes
    from performed
    group by all
),

final as (
    select
        exam_date,
        institution,
        case when small then {{ other_bucket() }} else modality end as modality,
        cast(sum(exam_count) as bigint) as exam_count,  -- a count stays an integer (not HUGEINT) for BI tools
        sum(busy_minutes) as busy_minutes,
        small as folded
    from (select *, exam_count < {{ min_cell() }} as small from cells)
    group by all
)

select * from final
