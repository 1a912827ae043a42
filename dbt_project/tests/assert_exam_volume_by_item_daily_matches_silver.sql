-- A performed exam counts once per distinct matched code, or once when it has none.
with silver as (
    select
        institution,
        sum(case when exam_name_status = 'matched' and len(exam_codes) > 0 then len(list_distinct(exam_codes)) else 1 end)
            as exam_items
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled'
    group by institution
),

mart as (
    select institution, sum(exam_count) as exam_items
    from {{ ref('exam_volume_by_item_daily') }}
    group by institution
)

select *
from silver
full outer join mart using (institution)
where silver.exam_items is distinct from mart.exam_items
