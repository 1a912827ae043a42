-- Acquisitions that break the consensus' rules, one row per rule and offending series or study:
--   ct_slice_thickness: a CT series reconstructed thicker than var ct_max_slice_thickness_mm (5 mm);
--   lung_ct_thin_reconstruction: a chest CT study whose thinnest series is thicker than var
--     lung_ct_thin_slice_mm (1 mm). Chest: the linked order's code names the chest (body part 030100), or,
--     unlinked, the header's BodyPartExamined says CHEST or LUNG.
-- Limits are inclusive (5 mm and 1 mm reconstructions comply), as scanners label their standard series.
-- Series and studies are silver's roll-ups; the analysts' file names them only by keyed pseudonyms.
with series as (
    select * from {{ ref('stg_silver__dicom_series') }}
),

studies as (
    select * from {{ ref('int_dicom_studies') }}
),

thick_ct_series as (
    select
        'ct_slice_thickness' as rule_id,
        'series' as subject_level,
        series.series_key as subject_key,
        series.study_instance_uid,
        series.series_key,
        series.max_slice_thickness as observed_mm,
        {{ var('ct_max_slice_thickness_mm', 5) }} as limit_mm
    from series
    where series.modality = 'CT'
      and series.max_slice_thickness > {{ var('ct_max_slice_thickness_mm', 5) }}
),

chest_ct_studies as (
    select *
    from studies
    where list_contains(modalities, 'CT')
      and (
          len(list_filter(exam_codes, c -> {{ code_modality('c') }} = '20' and {{ code_body_part('c') }} = '030100')) > 0
          or (not links_to_order and list_has_any(body_parts, ['CHEST', 'LUNG']))
      )
),

thinnest as (
    select study_instance_uid, min(min_slice_thickness) as thinnest_mm
    from series
    where modality = 'CT'
    group by study_instance_uid
),

lung_without_thin as (
    select
        'lung_ct_thin_reconstruction' as rule_id,
        'study' as subject_level,
        chest_ct_studies.study_key as subject_key,
        chest_ct_studies.study_instance_uid,
        cast(null as varchar) as series_key,
        thinnest.thinnest_mm as observed_mm,
        {{ var('lung_ct_thin_slice_mm', 1) }} as limit_mm
    from chest_ct_studies
    left join thinnest on thinnest.study_instance_uid = chest_ct_studies.study_instance_uid
    where coalesce(thinnest.thinnest_mm, 1e9) > {{ var('lung_ct_thin_slice_mm', 1) }}
),

violations as (
    select * from thick_ct_series
    union all
    select * from lung_without_thin
),

final as (
    select
        violations.rule_id,
        violations.subject_level,
        violations.subject_key,
        studies.study_key,
        violations.series_key,
        coalesce(studies.institution, '(unlinked)') as institution,
        studies.station_name,
        studies.study_date,
        cast(violations.observed_mm as double) as observed_mm,
        cast(violations.limit_mm as double) as limit_mm
    from violations
    left join studies on studies.study_instance_uid = violations.study_instance_uid
)

select * from final
