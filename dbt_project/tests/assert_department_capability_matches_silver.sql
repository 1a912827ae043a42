-- Breadth per department: distinct matched codes of its performed exams, unnested from silver/exams.
with codes as (
    select institution, ordering_department, unnest(exam_codes) as code
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and status <> 'cancelled' and exam_name_status = 'matched'
      and ordering_department is not null
),

silver as (
    select institution, ordering_department, count(distinct code) as items
    from codes
    group by all
)

select *
from silver
left join {{ ref('department_capability') }} as mart using (institution, ordering_department)
where silver.items is distinct from mart.distinct_items
