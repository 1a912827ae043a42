-- Exams whose raw name still needs a steward, per institution and status, straight from silver/exams.
with silver as (
    select institution, coalesce(exam_name_status, 'unmapped') as status, count(*) as exams,
           count(distinct raw_exam_name) as names
    from {{ source('silver', 'exams') }}
    where coalesce(exam_name_status, 'unmapped') not in ('matched', 'not_exam') and raw_exam_name is not null
    group by all
),

mart as (
    select institution, status, sum(exams) as exams, sum(names) as names
    from {{ ref('exam_name_open_names') }}
    group by all
)

select *
from silver
full outer join mart using (institution, status)
where silver.exams is distinct from mart.exams or silver.names is distinct from mart.names
