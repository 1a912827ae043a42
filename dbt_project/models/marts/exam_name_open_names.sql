-- The raw exam names that still need a steward (unmatched, in review, or not standardized yet), with how many
-- ordered exams carry each: the stewards' console lists the top ones. Billing lines (not_exam) and matched names
-- are left out. A clerk may type anything into an exam name, so the text is scrubbed (radlake_scrub: resident
-- IDs, phones, MRN-like numbers and labelled names become markers), and a name ordered fewer than min_cell
-- times is not shown: those names leave one row per institution and status (raw_name = the marker below).
-- The stewards see every raw name as typed through `radlake standardize review export`.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
),

names as (
    select
        institution,
        raw_exam_name,
        coalesce(exam_name_status, 'unmapped') as status,
        count(*) as exams
    from exams
    where coalesce(exam_name_status, 'unmapped') not in ('matched', 'not_exam')
      and raw_exam_name is not null
    group by all
)

select
    institution,
    case
        when exams >= {{ min_cell() }} then radlake_scrub(raw_exam_name)
        else '[fewer than {{ min_cell() }} exams each]'
    end as raw_name,
    status,
    sum(exams) as exams,
    count(*) as names
from names
group by all
