-- Performed exams and signed reports per institution, from silver/exams (folding small groups keeps them whole).
with silver as (
    select
        institution,
        count(*) as performed,
        count(report_signed_at) as signed
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled'
    group by all
),

mart as (
    select institution, sum(performed_exams) as performed, sum(signed_reports) as signed
    from {{ ref('report_turnaround') }}
    group by all
)

select *
from silver
full outer join mart using (institution)
where silver.performed is distinct from mart.performed or silver.signed is distinct from mart.signed
