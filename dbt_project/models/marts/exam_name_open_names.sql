-- The raw exam names that still need a steward (unmatched, in review, or not standardized yet), with how many
-- ordered exams carry each: the stewards' console lists the top ones. Raw exam names are order text, not
-- personal data; billing lines (not_exam) and matched names are left out.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
)

select
    institution,
    raw_exam_name as raw_name,
    coalesce(exam_name_status, 'unmapped') as status,
    count(*) as exams
from exams
where coalesce(exam_name_status, 'unmapped') not in ('matched', 'not_exam')
  and raw_exam_name is not null
group by all
