-- One item per code of every matched exam in silver/exams.
with silver as (
    select institution, sum(len(exam_codes)) as items
    from {{ source('silver', 'exams') }}
    where exam_name_status = 'matched'
    group by institution
    having sum(len(exam_codes)) > 0
),

mart as (
    select institution, count(*) as items
    from {{ ref('exam_standard_items') }}
    group by institution
)

select *
from silver
full outer join mart using (institution)
where silver.items is distinct from mart.items
