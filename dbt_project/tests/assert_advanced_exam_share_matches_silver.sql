-- Advanced exams per institution, judged by regular expressions over the codes in silver/exams: CT/MR scan
-- method 02-04, CT scan method 05, MR post-processing 04-07 or scan method 06.
with silver as (
    select
        institution,
        count(*) filter (
            where exam_name_status = 'matched'
              and len(list_filter(exam_codes, c ->
                  regexp_matches(c, '^(20|30)[0-9]{6}0[234][0-9]{4}$')
                  or regexp_matches(c, '^20[0-9]{6}05[0-9]{4}$')
                  or regexp_matches(c, '^30[0-9]{8}0[4-7][0-9]{2}$')
                  or regexp_matches(c, '^30[0-9]{6}06[0-9]{4}$'))) > 0
        ) as advanced,
        count(*) as performed
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled'
    group by institution
),

mart as (
    select institution, sum(advanced_exams) as advanced, sum(performed_exams) as performed
    from {{ ref('advanced_exam_share') }}
    group by institution
)

select *
from silver
full outer join mart using (institution)
where silver.advanced is distinct from mart.advanced or silver.performed is distinct from mart.performed
