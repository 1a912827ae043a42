-- Performed exams per local day, institution, ordering department, modality and standard item. An exam whose
-- raw name orders several items counts once under each; one not (yet) matched counts under a null item.
-- A cell of fewer than min_cell exams (privacy.min_cell) first loses its department (the row then counts the
-- item per day, institution and modality); what is still under min_cell is folded into one row per day,
-- institution and mapping status, without modality or item (folded = true). Totals stay whole, and no row
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

-- Small cells first lose their department (the item per day and institution is what analysts chart); what is
-- still small then is folded.
without_department as (
    select
        exam_date, institution, modality, mapping_status, standard_code, standard_name, modality_code,
        body_part_code, scan_method_code,
        sum(exam_count) as exam_count,
        count(*) as cells
    from cells
    where exam_count < {{ min_cell() }}
    group by all
),

shown as (
    select *, false as folded, 1 as cells
    from cells
    where exam_count >= {{ min_cell() }}
    union all
    select
        exam_date, institution, cast(null as varchar) as ordering_department, modality, mapping_status,
        standard_code, standard_name, modality_code, body_part_code, scan_method_code, exam_count,
        false as folded, cells
    from without_department
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
        sum(cells) as cells
    from without_department
    where exam_count < {{ min_cell() }}
    group by exam_date, institution, mapping_status
),

-- A department-less row and a cell whose department the RIS left empty share a key: one row.
final as (
    select
        exam_date, institution, ordering_department, modality, mapping_status, standard_code,
        any_value(standard_name) as standard_name,
        any_value(modality_code) as modality_code,
        any_value(body_part_code) as body_part_code,
        any_value(scan_method_code) as scan_method_code,
        sum(exam_count) as exam_count,
        folded,
        sum(cells) as cells
    from shown
    group by exam_date, institution, ordering_department, modality, mapping_status, standard_code, folded
)

select * from final
