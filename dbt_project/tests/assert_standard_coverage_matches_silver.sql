-- Coverage per institution from silver/exams: matched exams with codes over all exam lines but fees.
with silver as (
    select
        institution,
        round(
            sum(case when exam_name_status = 'matched' and len(exam_codes) > 0 then 1 else 0 end)
            / nullif(sum(case when exam_name_status = 'not_exam' then 0 else 1 end), 0),
            4
        ) as coverage
    from {{ source('silver', 'exams') }}
    group by institution
)

select *
from silver
full outer join {{ ref('standard_coverage') }} as mart using (institution)
where silver.coverage is distinct from mart.coverage_share
