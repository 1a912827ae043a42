-- Breadth per department: distinct matched codes of its performed exams, unnested from silver/exams. A department
-- of at least min_cell performed exams has its own row; the smaller ones of an institution share its '(other)'
-- row, whose breadth is the distinct codes of all of them. Performed exams per institution stay whole.
with performed as (
    select *
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled' and ordering_department is not null
),

departments as (
    select
        institution,
        ordering_department,
        case when count(*) < {{ min_cell() }} then '(other)' else ordering_department end as shown
    from performed
    group by institution, ordering_department
),

codes as (
    select performed.institution, departments.shown, unnest(performed.exam_codes) as code
    from performed
    inner join departments using (institution, ordering_department)
    where performed.exam_name_status = 'matched'
),

silver as (
    select institution, shown as ordering_department, count(distinct code) as items
    from codes
    group by all
),

totals as (
    select institution, count(*) as exams from performed group by all
),

mart_totals as (
    select institution, sum(performed_exams) as exams from {{ ref('department_capability') }} group by all
)

select silver.institution, silver.ordering_department, silver.items, mart.distinct_items
from silver
left join {{ ref('department_capability') }} as mart using (institution, ordering_department)
where silver.items is distinct from mart.distinct_items
union all
select institution, '(total)', totals.exams, mart_totals.exams
from totals
full outer join mart_totals using (institution)
where totals.exams is distinct from mart_totals.exams
