-- Performed exams per local day, institution, ordering department, modality and standard item. An exam whose
-- raw name orders several items counts once under each; one not (yet) matched counts under a null item.
-- Cells of fewer than min_cell exams (privacy.min_cell) are folded into one row per day, institution and
-- mapping status, without department, modality or item (folded = true): totals stay whole, and no row
-- singles out a few exams by what was done to whom where.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed
),

items as (
    select * from {{ ref('exam_standard_items') }}
),

exam_items as (
    select
        exams.exam_date,
        exams.institution,
        exams.ordering_department,
        exams.modality,
        coalesce(exams.exam_name_status, 'unmapped') as mapping_status,
        items.standard_code,
        items.standard_name,
        items.modality_code,
        items.body_part_code,
        items.scan_method_code,
        exams.exam_key
    from exams
    left join items
        on items.institution = exams.institution and items.exam_key = exams.exam_key
),

cells as (
    select
        exam_date,
        institution,
        ordering_department,
        modality,
        mapping_status,
        standard_code,
        standard_name,
        modality_code,
        body_part_code,
        scan_method_code,
        count(distinct exam_key) as exam_count
    from exam_items
    group by all
),

final as (
    select *, false as folded, 1 as cells
    from cells
    where exam_count >= {{ min_cell() }}
    union all
    select
        exam_date,
        institution,
        cast(null as varchar) as ordering_department,
        cast(null as varchar) as modality,
        mapping_status,
        cast(null as varchar) as standard_code,
        cast(null as varchar) as standard_name,
        cast(null as varchar) as modality_code,
        cast(null as varchar) as body_part_code,
        cast(null as varchar) as scan_method_code,
        sum(exam_count) as exam_count,
        true as folded,
        count(*) as cells
    from cells
    where exam_count < {{ min_cell() }}
    group by exam_date, institution, mapping_status
)

select * from final
