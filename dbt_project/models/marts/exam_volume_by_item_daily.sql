-- Performed exams per local day, institution, ordering department, modality and standard item. An exam whose
-- raw name orders several items counts once under each; one not (yet) matched counts under a null item.
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

final as (
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
)

select * from final
