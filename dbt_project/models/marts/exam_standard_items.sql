-- One row per ordered exam × standard item: the 14-digit codes of exams whose raw name is matched, cut into
-- segments, named, and classed as the advanced-exam share counts them.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where exam_name_status = 'matched' and len(exam_codes) > 0
),

names as (
    select * from {{ ref('int_standard_items') }}
),

items as (
    select
        institution,
        exam_key,
        exam_date,
        ordering_department,
        modality,
        is_performed,
        unnest(exam_codes) as standard_code,
        generate_subscripts(exam_codes, 1) as item_seq
    from exams
),

segments as (
    select
        *,
        {{ code_modality('standard_code') }} as modality_code,
        {{ code_body_part('standard_code') }} as body_part_code,
        {{ code_scan_method('standard_code') }} as scan_method_code,
        {{ code_post_processing('standard_code') }} as post_processing_code,
        {{ code_addon('standard_code') }} as addon_code
    from items
),

classified as (
    select
        segments.*,
        names.standard_name,
        -- Advanced exams (quality rules): CT/MR with contrast (增强, 平扫+增强, 动态增强), CT angiography,
        -- MR functional sequences (DWI, SWI, DTI, MRS as post-processing; perfusion as scan method).
        (modality_code in ('20', '30') and scan_method_code in ('02', '03', '04')) as is_contrast,
        (modality_code = '20' and scan_method_code = '05') as is_cta,
        (modality_code = '30' and (post_processing_code in ('04', '05', '06', '07') or scan_method_code = '06'))
            as is_mr_functional
    from segments
    left join names on names.standard_code = segments.standard_code
)

select
    institution,
    exam_key,
    item_seq,
    exam_date,
    ordering_department,
    modality,
    is_performed,
    standard_code,
    standard_name,
    modality_code,
    body_part_code,
    scan_method_code,
    post_processing_code,
    addon_code,
    is_contrast,
    is_cta,
    is_mr_functional,
    (is_contrast or is_cta or is_mr_functional) as is_advanced
from classified
